// The ML-EM drift estimator with the coarsest level drawn too (coarsest 'random', D^0 = 0: the form of Paing &
// Jacot's Proposition 3): unbiased for the finest level with the variance its coupling implies, a sample that draws
// no level is never passed to a model and gets D^ = 0, the cost accounting counts exactly the rows the models saw, and
// runs are reproducible per (seed, sample index) whatever the batch size.
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/core/batch.js';
import { normalBatch } from '../src/core/rng.js';
import type { Denoiser } from '../src/models/denoiser.js';
import { createGmmDenoiser } from '../src/models/gmm.js';
import { makeSchedule } from '../src/schedules/index.js';
import { makeGrid } from '../src/grids/index.js';
import { DEFAULT_COARSEST, DEFAULT_COUPLING, emptyAccount, levelCoins, mlEm, multilevel, multilevelEstimate, type Coupling, type Level } from '../src/mlem/ml-em.js';
import { expectedCost, fromTable, mlmcProbabilities, mlmcSchedule, scheduleForBudget } from '../src/mlem/schedule.js';

const schedule = makeSchedule('edm');
const gmm = createGmmDenoiser(
  { weights: [0.3, 0.7], means: [[1, 0, -1, 0.5], [-1, 0.5, 0, 1]], stds: [0.2, 0.4] },
  'test',
  'gmm:test',
);
const d = 4;

/** D = a * D_gmm + b, recording the rows of every call (a row is identified by its first value). */
function spy(a: number, b: number, name: string): Denoiser & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    sampleShape: gmm.sampleShape,
    name,
    calls,
    async predict(y: Batch, at) {
      const m = y.shape[0];
      calls.push(Array.from({ length: m }, (_, r) => y.data[r * d]));
      const p = await gmm.predict(y, at);
      return { x0: Float32Array.from(p.x0, (v) => a * v + b), eps: p.eps };
    },
  };
}

const couplings: Coupling[] = ['nested', 'independent'];

describe('ml-em, coarsest level drawn too (D^0 = 0)', () => {
  it('is unbiased for the finest level, with the variance of its coupling (5 standard errors)', async () => {
    const levels = [spy(0.4, 0.3, 'a'), spy(0.9, -0.2, 'b'), spy(1, 0, 'c')];
    const h = multilevel(levels.map((denoiser, l) => ({ denoiser, cost: 3 ** l })));
    const n = 20000;
    const y0 = normalBatch(0, 0, 1, d, 2, 0);
    const y: Batch = { data: new Float32Array(n * d), shape: [n, d] };
    for (let r = 0; r < n; r++) y.data.set(y0, r * d);
    const at = schedule.pointAtSigma(2);
    // The three levels at y0 and the differences Delta_l = D^l - D^{l-1} (D^0 = 0), as the estimator sees them.
    const D = await Promise.all(levels.map(async (l) => (await l.predict({ data: y0, shape: [1, d] }, at)).x0));
    const delta = D.map((x, l) => Array.from(x, (v, j) => v - (l === 0 ? 0 : D[l - 1][j])));
    const p = [0.5, 0.25, 0.1];
    for (const coupling of couplings) {
      const coins = levelCoins(7, 0, n, 4, p, coupling, 'random');
      const est = await multilevelEstimate(h, y, at, p, coins, emptyAccount(3));
      for (let j = 0; j < d; j++) {
        // Var of sum_l (B_l / p_l) Delta_l: Cov(B_l / p_l, B_m / p_m) = P(B_l B_m) / (p_l p_m) - 1, which is
        // 1 / max(p_l, p_m) - 1 with one uniform for all levels (B_l = [u < p_l]) and 0 for l != m with one per level.
        let variance = 0;
        for (let l = 0; l < 3; l++) {
          for (let m = 0; m < 3; m++) {
            const cov = coupling === 'nested' || l === m ? 1 / Math.max(p[l], p[m]) - 1 : 0;
            variance += cov * delta[l][j] * delta[m][j];
          }
        }
        let mean = 0, sq = 0;
        for (let r = 0; r < n; r++) mean += est[r * d + j];
        mean /= n;
        for (let r = 0; r < n; r++) sq += (est[r * d + j] - mean) ** 2;
        // Rows draw independent coins (keyed by sample index), so the mean has standard error sqrt(Var / n).
        expect(Math.abs(mean - D[2][j])).toBeLessThan(5 * Math.sqrt(variance / n));
        // The sample variance within 10 % of the coupling's (its relative standard error is about 2 % here).
        expect(Math.abs(sq / (n - 1) / variance - 1)).toBeLessThan(0.1);
      }
    }
  });

  it('a sample that draws no level is passed to no model and gets 0; a batch that draws none calls nothing', async () => {
    for (const coupling of couplings) {
      const levels = [spy(0.5, 0.1, 'a'), spy(1, 0, 'b')];
      const h = multilevel(levels.map((denoiser, l) => ({ denoiser, cost: l + 1 })));
      const m = 300;
      const y: Batch = { data: new Float32Array(m * d), shape: [m, d] };
      for (let r = 0; r < m; r++) y.data.fill(r, r * d, (r + 1) * d);
      const p = [0.3, 0.1];
      const coins = levelCoins(5, 0, m, 2, p, coupling, 'random');
      const account = emptyAccount(2);
      const est = await multilevelEstimate(h, y, schedule.pointAtSigma(1), p, coins, account);
      const rows = (f: (r: number) => boolean) => Array.from({ length: m }, (_, r) => r).filter(f);
      const idle = rows((r) => !coins[2 * r] && !coins[2 * r + 1]);
      expect(idle.length).toBeGreaterThan(100);
      expect(rows((r) => coins[2 * r + 1] === 1).length).toBeGreaterThan(10);
      // Level 1 runs where B_1 or B_2 is up (D^1 and D^2 - D^1 need it), level 2 where B_2 is.
      expect(levels[0].calls).toEqual([rows((r) => coins[2 * r] === 1 || coins[2 * r + 1] === 1)]);
      expect(levels[1].calls).toEqual([rows((r) => coins[2 * r + 1] === 1)]);
      for (const r of idle) for (let j = 0; j < d; j++) expect(est[r * d + j]).toBe(0);
      expect(account.idle).toBe(idle.length);
      expect(account.evaluations).toEqual(levels.map((l) => l.calls[0].length));
      expect(account.calls).toEqual([1, 1]);
      // A one-sample batch at a step where its coins are all down: no call at all, D^ = 0.
      const step = Array.from({ length: 200 }, (_, i) => i).find((i) => levelCoins(5, 17, 1, i, p, coupling, 'random').every((b) => b === 0))!;
      expect(step).toBeDefined();
      const one = emptyAccount(2);
      const e1 = await multilevelEstimate(h, { data: y.data.slice(0, d), shape: [1, d] }, schedule.pointAtSigma(1), p, levelCoins(5, 17, 1, step, p, coupling, 'random'), one);
      expect(Array.from(e1)).toEqual([0, 0, 0, 0]);
      expect(one).toEqual({ evaluations: [0, 0], calls: [0, 0], seconds: [0, 0], idle: 1 });
      expect(levels.map((l) => l.calls.length)).toEqual([1, 1]);
    }
  });

  it('the cost is what the models ran, and its expectation is expectedCost with the coarsest level drawn', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 16 });
    const costs = [1, 3, 9];
    const opts = { grid, eta: 1, costs, variance: (l: number) => [0.5, 0.04, 0.01][l], coarsest: 'random' as const };
    const table = mlmcSchedule(opts, 1);
    // p_{i,1} = min(1, kappa |a_i| sqrt(E|D^1|^2 / c_1)), with a = 1 on the last step.
    expect(table[15][0]).toBeCloseTo(Math.sqrt(0.5), 12);
    expect(table.some((p) => p[0] === 1)).toBe(true);
    for (const coupling of couplings) {
      const levels = [spy(0.5, 0, 'a'), spy(0.9, 0, 'b'), spy(1, 0, 'c')];
      const n = 400;
      const r = await mlEm({ levels: levels.map((denoiser, l) => ({ denoiser, cost: costs[l] })), grid, probabilities: fromTable(table), coarsest: 'random', coupling, n, seed: 2 });
      const seen = levels.map((l) => l.calls.reduce((a, c) => a + c.length, 0));
      expect(r.account.evaluations).toEqual(seen);
      expect(r.costPerSample).toBeCloseTo(seen.reduce((a, e, l) => a + e * costs[l], 0) / n, 10);
      expect(r.finestEquivalents).toBeCloseTo(r.costPerSample / 9, 12);
      expect(r.account.idle).toBeGreaterThan(0);
      // Each level's count is a sum of independent Bernoulli(q_{i,l}) over samples and steps, q the probability that
      // B_l or B_{l+1} is up: its mean is n sum_i q and its standard error sqrt(n sum_i q (1 - q)).
      for (let l = 0; l < 3; l++) {
        let mean = 0, v = 0;
        for (const p of table) {
          const up = l + 1 < 3 ? p[l + 1] : 0;
          const q = coupling === 'nested' ? Math.max(p[l], up) : 1 - (1 - p[l]) * (1 - up);
          mean += n * q;
          v += n * q * (1 - q);
        }
        expect(Math.abs(seen[l] - mean)).toBeLessThanOrEqual(5 * Math.sqrt(v) + 1e-9);
      }
      const want = expectedCost(table, costs, coupling, 'random');
      expect(Math.abs(r.costPerSample - want) / want).toBeLessThan(0.05);
    }
  });

  it('expectedCost and the budget: level 1 costs p_1 instead of 1, so budgets below level 1 alone come within reach', () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 10 });
    const costs = [1, 4];
    const table = [[0.5, 0.2], [1, 0.5]];
    expect(expectedCost(table, costs, 'nested', 'fixed')).toBeCloseTo(1 + 0.2 * 4 + 1 + 0.5 * 4, 12);
    expect(expectedCost(table, costs, 'nested', 'random')).toBeCloseTo(0.5 + 0.2 * 4 + 1 + 0.5 * 4, 12);
    expect(expectedCost(table, costs, 'independent', 'random')).toBeCloseTo(1 - 0.5 * 0.8 + 0.2 * 4 + 1 + 0.5 * 4, 12);
    const opts = { grid, eta: 1, costs, variance: (l: number) => (l === 0 ? 0.3 : 0.01) };
    expect(scheduleForBudget({ ...opts, coarsest: 'fixed' }, 5, 'nested')).toBeNull();
    const s = scheduleForBudget({ ...opts, coarsest: 'random' }, 5, 'nested')!;
    expect(s.cost).toBeCloseTo(5, 4);
    expect(s.table.some((p) => p[0] < 1)).toBe(true);
    expect(mlmcProbabilities([1, 4], [0.04, 0.01], 2, 'random')).toEqual([0.4, 0.1]);
    expect(mlmcProbabilities([1, 4], [0.04, 0.01], 2, 'fixed')).toEqual([1, 0.1]);
  });

  it('is reproducible per (seed, sample index) whatever the batch size, for both couplings', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 12 });
    const levels: Level[] = [
      { denoiser: spy(0.7, 0, 'a'), cost: 1 },
      { denoiser: spy(1, 0, 'b'), cost: 3 },
    ];
    for (const coupling of couplings) {
      const o = { levels, grid, probabilities: [0.6, 0.3], coarsest: 'random' as const, coupling, seed: 9 };
      const a = await mlEm({ ...o, n: 24, batch: 24 });
      const b = await mlEm({ ...o, n: 24, batch: 5 });
      expect(Array.from(b.samples.data)).toEqual(Array.from(a.samples.data));
      expect(b.account.evaluations).toEqual(a.account.evaluations);
      expect(b.account.idle).toBe(a.account.idle);
      const tail = await mlEm({ ...o, n: 16, firstSample: 8, batch: 3 });
      expect(Array.from(tail.samples.data)).toEqual(Array.from(a.samples.data.subarray(8 * d)));
      const c = await mlEm({ ...o, n: 24, seed: 10 });
      expect(Array.from(c.samples.data)).not.toEqual(Array.from(a.samples.data));
    }
  });

  it('with p_1 = 1 and nested coins it is the fixed-coarsest estimator, bit for bit; bad p_1 is refused', async () => {
    const grid = makeGrid(schedule, { kind: 'karras', steps: 12 });
    const levels: Level[] = [
      { denoiser: spy(0.7, 0.1, 'a'), cost: 1 },
      { denoiser: spy(0.9, 0, 'b'), cost: 2 },
      { denoiser: spy(1, 0, 'c'), cost: 4 },
    ];
    const o = { levels, grid, probabilities: [1, 0.4, 0.2], coupling: 'nested' as const, n: 20, seed: 4 };
    const fixed = await mlEm({ ...o, coarsest: 'fixed' });
    const random = await mlEm({ ...o, coarsest: 'random' });
    expect(Array.from(random.samples.data)).toEqual(Array.from(fixed.samples.data));
    expect(random.account.evaluations).toEqual(fixed.account.evaluations);
    // 'fixed' ignores entry 0 (level 1 runs at every step); 'random' needs 0 < p_1 <= 1.
    const ignored = await mlEm({ ...o, probabilities: [0, 0.4, 0.2], coarsest: 'fixed' });
    expect(Array.from(ignored.samples.data)).toEqual(Array.from(fixed.samples.data));
    await expect(mlEm({ ...o, probabilities: [0, 0.4, 0.2], coarsest: 'random' })).rejects.toThrow(/level 1 at step 0 is 0/);
    await expect(mlEm({ ...o, coarsest: 'sometimes' as never })).rejects.toThrow(/coarsest must be/);
    // The defaults are the ones the module exports.
    const { coupling: _, ...unset } = o;
    const byDefault = await mlEm({ ...unset, probabilities: [0.7, 0.4, 0.2] });
    const explicit = await mlEm({ ...unset, probabilities: [0.7, 0.4, 0.2], coarsest: DEFAULT_COARSEST, coupling: DEFAULT_COUPLING });
    expect(Array.from(byDefault.samples.data)).toEqual(Array.from(explicit.samples.data));
  });
});
