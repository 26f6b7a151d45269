// The shipped trained MLP denoisers (models/, made by scripts/train-mlp.ts): each loads as an ONNX denoiser with
// prediction 'edm' and agrees with the float64 forward pass of its own weights; each level is closer to the exact
// denoiser than the one below on held-out noisy inputs; cards are complete; ML-EM runs over them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/models/registry.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { createEmpiricalDenoiser } from '../src/models/empirical-onnx.js';
import { edmPreconditioning } from '../src/models/adapters.js';
import { mlpForward, readMlpParams, type MlpArchitecture } from '../src/models/mlp.js';
import { budgetSchedule, loadMlpLevels, mlpCards, modelsDir, parseMlpSpec } from '../src/mlem/levels.js';
import { errorProbe, probePredictions, rmsBySigma } from '../src/mlem/error.js';
import { mlEm } from '../src/mlem/ml-em.js';
import { makeSchedule } from '../src/schedules/index.js';
import { makeGrid } from '../src/grids/index.js';
import { normalBatch } from '../src/core/rng.js';

const cards = mlpCards('digits');

describe('shipped MLP denoisers (digits)', () => {
  it('a geometric family of at least 4 levels, each well under 10 MB, with complete cards', () => {
    expect(cards.length).toBeGreaterThanOrEqual(4);
    for (let i = 0; i < cards.length; i++) {
      const c = cards[i] as typeof cards[number] & { sha256: string; command: string; training: { lossCurve: unknown[] } };
      const bytes = readFileSync(modelsDir() + c.file);
      expect(bytes.length).toBe(c.bytes);
      expect(bytes.length).toBeLessThan(5e6);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(c.sha256);
      expect(c.command).toMatch(/^npx tsx scripts\/train-mlp\.ts /);
      expect(c.training.lossCurve.length).toBeGreaterThan(5);
      if (i > 0) {
        const ratio = c.architecture.flopsPerSample / cards[i - 1].architecture.flopsPerSample;
        expect(ratio).toBeGreaterThan(2);
        expect(ratio).toBeLessThan(4);
      }
    }
  });

  it('each loads through loadModel (onnx:, prediction edm) and equals its float64 forward pass (1e-4)', async () => {
    const ds = loadEmbeddedDataset('digits');
    for (const c of cards) {
      const { denoiser } = await loadModel(`onnx:${modelsDir()}${c.file}`, { prediction: 'edm', threads: 1 });
      expect(denoiser.sampleShape).toEqual([1, 8, 8]);
      const arch: MlpArchitecture = { sampleShape: [1, 8, 8], hidden: c.architecture.hidden, frequencies: (c.architecture as unknown as { noiseEmbedding: { frequencies: number[] } }).noiseEmbedding.frequencies, sigmaData: c.load.sigmaData };
      const params = readMlpParams(readFileSync(modelsDir() + c.file), arch);
      for (const sigma of [0.01, 0.3, 2, 40]) {
        const y = new Float32Array(4 * 64);
        const z = normalBatch(11, 0, 4, 64, sigma, 0);
        for (let i = 0; i < y.length; i++) y[i] = ds.images[i + 640] + z[i];
        const { x0 } = await denoiser.predict({ data: y, shape: [4, 1, 8, 8] }, { sigma, t: sigma, alpha: 1 });
        const { cSkip, cOut, cIn, cNoise } = edmPreconditioning(sigma, arch.sigmaData);
        const f = mlpForward(arch, params, Float32Array.from(y, (v) => cIn * v), Math.fround(cNoise));
        for (let i = 0; i < y.length; i++) expect(Math.abs(x0[i] - (cSkip * y[i] + cOut * f[i]))).toBeLessThan(1e-4);
      }
      await denoiser.dispose?.();
    }
  });

  for (const data of ['digits', 'fashion']) {
    const shipped = (() => {
      try {
        return mlpCards(data).length > 1;
      } catch {
        return false;
      }
    })();
    it.runIf(data === 'digits' || shipped)(`${data}: each level is closer to the exact denoiser than the previous one on held-out noisy inputs`, async () => {
      const ds = loadEmbeddedDataset(data);
      const dim = ds.images.length / ds.count;
      const exact = await createEmpiricalDenoiser(ds.images, ds.shape, { threads: 1 });
      const h = await loadMlpLevels(data, { threads: 1 });
      // Noise levels across EDM's training range; 64 points each, from a Philox stream no training run drew.
      const probe = errorProbe(ds.images, dim, [0.05, 0.15, 0.4, 1, 2.5], 64, 77);
      const ref = await probePredictions(exact, probe);
      const errors: number[] = [];
      for (const l of h.levels) errors.push(rmsBySigma(await probePredictions(l.denoiser, probe), ref).overall);
      for (let i = 1; i < errors.length; i++) expect(errors[i]).toBeLessThan(errors[i - 1]);
      for (const l of h.levels) await l.denoiser.dispose?.();
      await exact.dispose?.();
    });
  }

  it('ML-EM runs over the shipped hierarchy; its cost accounting follows the probabilities', async () => {
    const h = await loadMlpLevels('digits', { widths: [32, 128, 512].filter((w) => cards.some((c) => c.architecture.hidden[0] === w)), threads: 1 });
    const grid = makeGrid(makeSchedule('edm'), { kind: 'karras', steps: 33 });
    const r = await mlEm({ levels: h, grid, probabilities: [1, 0.5, 0.1], n: 64, seed: 4 });
    expect(r.samples.shape).toEqual([64, 1, 8, 8]);
    expect(r.account.evaluations[0]).toBe(64 * 33);
    expect(r.account.evaluations[2] / (64 * 33)).toBeGreaterThan(0.05);
    expect(r.account.evaluations[2] / (64 * 33)).toBeLessThan(0.15);
    expect(r.finestEquivalents).toBeLessThan(33);
    // Samples stay in a sane range (pixels in [-1, 1]; constant p = 0.1 on the last step lets its 10x correction through).
    expect(Math.max(...Array.from(r.samples.data, Math.abs))).toBeLessThan(6);
    // A budget of 1/4 of EM-finest: the realised cost is close to it.
    const probabilities = await budgetSchedule(h, 'digits', grid, 1, 0.25);
    const b = await mlEm({ levels: h, grid, probabilities, n: 64, seed: 4 });
    expect(Math.abs(b.finestEquivalents / (0.25 * 33) - 1)).toBeLessThan(0.15);
    for (const l of h.levels) await l.denoiser.dispose?.();
    expect(parseMlpSpec('mlp:digits:32,128,512')).toEqual({ data: 'digits', widths: [32, 128, 512] });
    expect(() => parseMlpSpec('mlp:')).toThrow(/expected mlp:DATA/);
  });
});
