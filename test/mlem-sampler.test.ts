// ML-EM on cheap exact models: it reduces to Euler-Maruyama when every level is the same model (and with all
// probabilities 1 to EM with the finest level), its drift estimate is unbiased, its cost accounting matches the
// coins, and runs are reproducible per sample whatever the batch size. The estimator and schedule checks here are of
// the coarsest-'fixed' form (level 1 at every step); test/mlem-estimator.test.ts checks the coarsest-'random' one.
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { createGmmDenoiser } from '../src/models/gmm.js';
import { makeSchedule } from '../src/schedules/index.js';
import { makeGrid } from '../src/grids/index.js';
import { sample } from '../src/sample.js';
import { getSolver } from '../src/solvers/index.js';
import { emptyAccount, levelCoins, mlEm, multilevel, multilevelEstimate, nestedBrownian, stepNoise, type Level } from '../src/mlem/ml-em.js';
import { driftWeight, expectedCost, fromTable, mlmcProbabilities, mlmcSchedule, scheduleForBudget, varianceTable } from '../src/mlem/schedule.js';

const schedule = makeSchedule('edm');
const gmm = createGmmDenoiser(
  { weights: [0.3, 0.7], means: [[1, 0, -1, 0.5], [-1, 0.5, 0, 1]], stds: [0.2, 0.4] },
  'test',
  'gmm:test',
);

/** D^l = a_l * D_gmm + b_l: a family of distinct deterministic models around the exact one. */
function scaled(a: number, b: number, name: string): Denoiser {
  return {
    sampleShape: gmm.sampleShape,
    name,
    async predict(y: Batch, at) {
      const p = await gmm.predict(y, at);
      const x0 = Float32Array.from(p.x0, (v) => a * v + b);
      return { x0, eps: p.eps };
    },
  };
}

const grid = makeGrid(schedule, { kind: 'karras', steps: 12 });

describe('ml-em', () => {
  it('with every level the same model it is Euler-Maruyama (SDE, eta = 1), whatever the probabilities', async () => {
    const same: Level[] = [1, 2, 3].map((c) => ({ denoiser: gmm, cost: c }));
    const ml = await mlEm({ levels: same, grid, probabilities: [1, 0.5, 0.2], n: 20, seed: 3 });
    // Reference EM written out here: y' = y + 2 (s' - s)/s (y - D) + sqrt(2 s (s - s')) z_i, last step y = D.
    const d = 4;
    let y: Batch = { data: normalBatch(3, 0, 20, d, grid[0].sigma, 0), shape: [20, d] };
    for (let i = 0; i < grid.length - 1; i++) {
      const s = grid[i].sigma, s1 = grid[i + 1].sigma;
      const { x0 } = await gmm.predict(y, grid[i]);
      const z = normalBatch(3, 0, 20, d, 1, i + 1);
      const next = new Float32Array(y.data.length);
      for (let j = 0; j < next.length; j++) {
        next[j] = s1 === 0 ? x0[j] : y.data[j] + (2 * (s1 - s) / s) * (y.data[j] - x0[j]) + Math.sqrt(2 * s * (s - s1)) * z[j];
      }
      y = { data: next, shape: y.shape };
    }
    for (let j = 0; j < y.data.length; j++) expect(ml.samples.data[j]).toBeCloseTo(y.data[j], 5);
    // Cost: level 1 always, the others at a fraction of the steps.
    expect(ml.account.evaluations[0]).toBe(20 * 12);
    expect(ml.account.evaluations[1]).toBeLessThan(20 * 12);
  });

  it('the ODE variant (eta = 0) with one level is the Euler solver of the library', async () => {
    const ml = await mlEm({ levels: [{ denoiser: gmm, cost: 1 }], grid, eta: 0, n: 16, seed: 5 });
    const ref = await sample({ model: gmm, solver: getSolver('euler'), grid, schedule, n: 16, seed: 5 });
    for (let j = 0; j < ref.samples.data.length; j++) expect(ml.samples.data[j]).toBeCloseTo(ref.samples.data[j], 5);
  });

  it('with all probabilities 1 the telescoping sum is the finest level: EM with the finest model', async () => {
    const levels: Level[] = [scaled(0.5, 0.1, 'a'), scaled(0.8, -0.05, 'b'), { denoiser: gmm, cost: 4 }].map((x, i) => ('denoiser' in x ? x : { denoiser: x, cost: i + 1 }));
    const ml = await mlEm({ levels, grid, n: 10, seed: 1 });
    const em = await mlEm({ levels: [{ denoiser: gmm, cost: 4 }], grid, n: 10, seed: 1 });
    for (let j = 0; j < em.samples.data.length; j++) expect(ml.samples.data[j]).toBeCloseTo(em.samples.data[j], 5);
    expect(ml.finestEquivalents).toBeCloseTo((12 * (1 + 2 + 4)) / 4, 10);
  });

  it('the multilevel drift estimate is unbiased for the finest level', async () => {
    const h = multilevel([
      { denoiser: scaled(0.4, 0.3, 'a'), cost: 1 },
      { denoiser: scaled(0.9, -0.2, 'b'), cost: 3 },
      { denoiser: gmm, cost: 9 },
    ]);
    const n = 4000, d = 4;
    const y0 = normalBatch(0, 0, 1, d, 2, 0);
    const y: Batch = { data: new Float32Array(n * d), shape: [n, d] };
    for (let r = 0; r < n; r++) y.data.set(y0, r * d);
    const at = schedule.pointAtSigma(2);
    const exact = (await gmm.predict({ data: y0, shape: [1, d] }, at)).x0;
    for (const coupling of ['nested', 'independent'] as const) {
      const p = [1, 0.3, 0.1];
      const coins = levelCoins(7, 0, n, 4, p, coupling, 'fixed');
      const acc = emptyAccount(3);
      const est = await multilevelEstimate(h, y, at, p, coins, acc);
      for (let k = 0; k < d; k++) {
        let mean = 0, sq = 0;
        for (let r = 0; r < n; r++) {
          mean += est[r * d + k];
          sq += est[r * d + k] ** 2;
        }
        mean /= n;
        const se = Math.sqrt((sq / n - mean * mean) / n);
        expect(Math.abs(mean - exact[k])).toBeLessThan(4 * se + 1e-6);
      }
      // Coins: level 3 needs levels 2 and 3; nested coupling evaluates level 3 only where level 2's coin is up.
      expect(Math.abs(acc.evaluations[2] / n - 0.1)).toBeLessThan(0.02);
      if (coupling === 'nested') expect(acc.evaluations[1]).toBe(coins.filter((_, i) => i % 3 === 1 && coins[i] === 1).length);
    }
  });

  it('is reproducible: the same seed gives the same samples whatever the batch size; another seed differs', async () => {
    const levels: Level[] = [
      { denoiser: scaled(0.7, 0, 'a'), cost: 1 },
      { denoiser: gmm, cost: 3 },
    ];
    const a = await mlEm({ levels, grid, probabilities: [1, 0.3], n: 24, seed: 9, batch: 24 });
    const b = await mlEm({ levels, grid, probabilities: [1, 0.3], n: 24, seed: 9, batch: 5 });
    const c = await mlEm({ levels, grid, probabilities: [1, 0.3], n: 24, seed: 10, batch: 24 });
    expect(Array.from(b.samples.data)).toEqual(Array.from(a.samples.data));
    expect(b.account.evaluations).toEqual(a.account.evaluations);
    expect(Array.from(c.samples.data)).not.toEqual(Array.from(a.samples.data));
    // Samples 8.. of a run that starts at sample 8 are samples 8.. of the full run.
    const tail = await mlEm({ levels, grid, probabilities: [1, 0.3], n: 16, seed: 9, firstSample: 8 });
    expect(Array.from(tail.samples.data)).toEqual(Array.from(a.samples.data.subarray(8 * 4)));
  });

  it('nested Brownian increments: a coarse step is the sum of the fine ones; the step noise has the right scale', () => {
    const fine = [8, 4, 2, 1, 0.5];
    const br = nestedBrownian(1, fine);
    const whole = br.increment(0, 8, 0.5, 0, 3, 5);
    const parts = [br.increment(0, 8, 2, 0, 3, 5), br.increment(1, 2, 0.5, 0, 3, 5)];
    for (let j = 0; j < whole.length; j++) expect(whole[j]).toBeCloseTo(parts[0][j] + parts[1][j], 5);
    expect(() => br.increment(0, 8, 3, 0, 1, 1)).toThrow(/not a point/);
    const inc = stepNoise(2).increment(0, 5, 1, 0, 2000, 1);
    const v = inc.reduce((a, x) => a + x * x, 0) / inc.length;
    expect(v).toBeGreaterThan(4 * 0.9);
    expect(v).toBeLessThan(4 * 1.1);
  });

  it('the MLMC allocation is min(1, kappa sqrt(v / c)) with level 1 always 1 (coarsest fixed)', () => {
    expect(mlmcProbabilities([1, 4, 16], [0, 1, 0.04], 2, 'fixed')).toEqual([1, 1, 0.1]);
    // A zero v_1 (the fixed form's unused first entry) is refused when level 1 is drawn too.
    expect(() => mlmcProbabilities([1, 4, 16], [0, 1, 0.04], 2, 'random')).toThrow(/v_1 = E\|D\^1\|\^2/);
    expect(() => multilevel([{ denoiser: gmm, cost: 0 }])).toThrow(/cost/);
  });

  it('the step-dependent schedule: weights a_i, interpolated variances, expected cost = realised cost, budget', async () => {
    const g = makeGrid(schedule, { kind: 'karras', steps: 20 });
    expect(driftWeight(g, 0, 1)).toBeCloseTo((2 * (g[0].sigma - g[1].sigma)) / g[0].sigma, 12);
    expect(driftWeight(g, 19, 1)).toBe(1);
    const vt = varianceTable([0.1, 1, 10], [[0, 0, 0], [1, 3, 5]]);
    expect(vt(1, 1)).toBeCloseTo(3, 12);
    expect(vt(1, Math.sqrt(10))).toBeCloseTo(4, 12);
    expect(vt(1, 0.001)).toBe(1);
    expect(vt(1, 80)).toBe(5);
    const costs = [1, 3, 9];
    const opts = { grid: g, eta: 1, costs, variance: (l: number) => (l === 1 ? 0.04 : 0.01), coarsest: 'fixed' as const };
    const table = mlmcSchedule(opts, 2);
    // p = kappa |a_i| sqrt(v / c): the last step has a = 1; interior steps scale with their drift weight.
    expect(table[19][2]).toBeCloseTo(2 * Math.sqrt(0.01 / 9), 12);
    expect(table[10][1]).toBeCloseTo(Math.min(1, 2 * driftWeight(g, 10, 1) * Math.sqrt(0.04 / 3)), 12);
    expect(table.every((p) => p[0] === 1)).toBe(true);
    const want = expectedCost(table, costs, 'nested', 'fixed');
    const levels: Level[] = [scaled(0.5, 0, 'a'), scaled(0.9, 0, 'b'), gmm].map((denoiser, i) => ({ denoiser, cost: costs[i] }));
    const r = await mlEm({ levels, grid: g, probabilities: fromTable(table), coarsest: 'fixed', coupling: 'nested', n: 400, seed: 2 });
    expect(Math.abs(r.costPerSample - want) / want).toBeLessThan(0.05);
    const b = scheduleForBudget(opts, 60, 'nested')!;
    expect(b.cost).toBeCloseTo(60, 4);
    expect(scheduleForBudget(opts, 1, 'nested')).toBeNull();
  });
});
