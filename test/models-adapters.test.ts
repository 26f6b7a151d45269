import { describe, expect, it } from 'vitest';
import { makeBatch } from '../src/core/batch.js';
import { edmPreconditioning, wrapNetwork, type PredictionType, type RawNetwork } from '../src/models/adapters.js';

// A known (x0, eps) pair; the fake network outputs exactly what a perfect network of each type would.
const D = 6;
const x0True = Float64Array.from({ length: D }, (_, i) => Math.sin(i + 1) * 0.8);
const epsTrue = Float64Array.from({ length: D }, (_, i) => Math.cos(3 * i + 0.5));

function state(sigma: number): Float32Array {
  return Float32Array.from(x0True, (v, i) => v + sigma * epsTrue[i]);
}

function vpPoint(sigma: number) {
  return { sigma, t: 123.4, alpha: 1 / Math.sqrt(1 + sigma * sigma) };
}

function perfectNet(prediction: PredictionType, sigma: number, seen: { x?: Float32Array; t?: number }): RawNetwork {
  const a = 1 / Math.sqrt(1 + sigma * sigma), s = sigma * a;
  return async (x, shape, t) => {
    seen.x = x.slice();
    seen.t = t;
    expect(shape).toEqual([1, D]);
    const out = new Float32Array(D);
    for (let i = 0; i < D; i++) {
      if (prediction === 'epsilon') out[i] = epsTrue[i];
      else if (prediction === 'sample') out[i] = x0True[i];
      else if (prediction === 'v_prediction') out[i] = a * epsTrue[i] - s * x0True[i];
      else {
        const { cSkip, cOut } = edmPreconditioning(sigma);
        const y = x0True[i] + sigma * epsTrue[i];
        out[i] = (x0True[i] - cSkip * y) / cOut;
      }
    }
    return out;
  };
}

describe('parameterisation adapters', () => {
  for (const prediction of ['epsilon', 'v_prediction', 'sample', 'edm'] as const) {
    for (const sigma of [0.02, 0.7, 14.6]) {
      it(`${prediction} at sigma ${sigma} recovers x0 and eps`, async () => {
        const seen: { x?: Float32Array; t?: number } = {};
        const den = wrapNetwork(perfectNet(prediction, sigma, seen), { prediction, sampleShape: [D], name: 'fake' });
        const y = state(sigma);
        const point = vpPoint(sigma);
        const p = await den.predict(makeBatch([1, D], y), point);
        for (let i = 0; i < D; i++) {
          expect(p.x0[i]).toBeCloseTo(x0True[i], 4);
          expect(p.eps[i]).toBeCloseTo(epsTrue[i], prediction === 'epsilon' ? 6 : 3);
          // The two predictions are consistent with the state: y = x0 + sigma * eps.
          expect(p.x0[i] + sigma * p.eps[i]).toBeCloseTo(y[i], 4);
        }
        if (prediction === 'edm') {
          const { cIn, cNoise } = edmPreconditioning(sigma);
          expect(seen.t).toBeCloseTo(Math.log(sigma) / 4, 12);
          for (let i = 0; i < D; i++) expect(seen.x![i]).toBeCloseTo(cIn * y[i], 6);
        } else {
          // The network sees its native input x = alpha * y and the grid's t.
          expect(seen.t).toBe(123.4);
          for (let i = 0; i < D; i++) expect(seen.x![i]).toBeCloseTo(point.alpha * y[i], 6);
        }
      });
    }
  }

  it('EDM preconditioning matches Karras et al. Table 1', () => {
    const c = edmPreconditioning(2, 0.5);
    expect(c.cSkip).toBeCloseTo(0.25 / 4.25, 14);
    expect(c.cOut).toBeCloseTo(1 / Math.sqrt(4.25), 14);
    expect(c.cIn).toBeCloseTo(1 / Math.sqrt(4.25), 14);
    expect(c.cNoise).toBeCloseTo(Math.log(2) / 4, 14);
  });

  it("'sample' at sigma 0 gives eps = 0; 'edm' at sigma 0 returns y without calling the network", async () => {
    const y = state(0);
    const s = wrapNetwork(async (x) => x.map((v) => v * 0.5), { prediction: 'sample', sampleShape: [D], name: 's' });
    const p = await s.predict(makeBatch([1, D], y), { sigma: 0, t: 0, alpha: 1 });
    expect(Array.from(p.eps)).toEqual(new Array(D).fill(0));
    let called = false;
    const e = wrapNetwork(async (x) => ((called = true), x), { prediction: 'edm', sampleShape: [D], name: 'e' });
    const q = await e.predict(makeBatch([1, D], y), { sigma: 0, t: 0, alpha: 1 });
    expect(called).toBe(false);
    expect(Array.from(q.x0)).toEqual(Array.from(y));
  });

  it('never returns the caller’s state array as a prediction', async () => {
    const den = wrapNetwork(async (x) => x, { prediction: 'epsilon', sampleShape: [D], name: 'id' });
    const y = makeBatch([1, D], state(1));
    const p = await den.predict(y, { sigma: 1, t: 1, alpha: 1 });
    expect(p.eps).not.toBe(y.data);
  });

  it('rejects an unknown prediction type and a wrong output length', async () => {
    expect(() => wrapNetwork(async (x) => x, { prediction: 'flow' as PredictionType, sampleShape: [D], name: 'x' })).toThrow(/prediction 'flow'.*epsilon, v_prediction, sample, edm/);
    const bad = wrapNetwork(async () => new Float32Array(3), { prediction: 'epsilon', sampleShape: [D], name: 'x' });
    await expect(bad.predict(makeBatch([1, D], state(1)), { sigma: 1, t: 1, alpha: 1 })).rejects.toThrow(/adapters.ts: network output has 3 values, expected 6/);
  });
});
