// The WebAssembly SIMD kernels against the plain JavaScript paths they replace: bit-identical results for linear
// combinations and noise, the same non-finite positions, and the chunk and tail edges of the arena.
import { afterEach, describe, expect, it } from 'vitest';
import { firstNonFinite, firstNonFiniteJs, linComb, linComb2Checked, linCombChecked, linCombJs } from '../src/core/batch.js';
import { CHUNK, NORMAL_CHUNK, kernelsReady, setWasmKernels, wasmKernelsActive, wasmNormals } from '../src/core/kernels.js';
import { normalBatch, sampleNormals } from '../src/core/rng.js';
import { predictionFromX0 } from '../src/models/denoiser.js';

afterEach(() => setWasmKernels(true));

/** Deterministic test data with a wide spread of magnitudes, some exact zeros and negative zeros. */
function data(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) ^ Math.imul(s ^ (s >>> 12), 0x297a2d39);
    s >>>= 0;
    const u = s / 4294967296;
    a[i] = i % 97 === 0 ? 0 : i % 89 === 0 ? -0 : (u - 0.5) * 2 ** ((s % 41) - 20);
  }
  return a;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  const x = bits(a), y = bits(b);
  let first = -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      first = i;
      break;
    }
  }
  expect(first === -1 ? 'identical' : `first difference at ${first}: ${a[first]} vs ${b[first]}`).toBe('identical');
}

const SIZES = [1, 3, 4, 7, 63, 64, 65, 1000, CHUNK - 1, CHUNK, CHUNK + 5, 3 * CHUNK + 3];

describe('WebAssembly kernels', () => {
  it('are available in Node 20 and can be turned off', async () => {
    expect(await kernelsReady()).toBe(true);
    setWasmKernels(false);
    expect(wasmKernelsActive()).toBe(false);
    setWasmKernels(true);
    expect(wasmKernelsActive()).toBe(true);
  });

  it('linComb is bit-identical to the float64 JavaScript loop for k = 1..7 and every chunk edge', () => {
    for (const n of SIZES) {
      for (let k = 1; k <= 7; k++) {
        const vecs = Array.from({ length: k }, (_, j) => data(n, 1000 * k + 10 * j + n));
        const coeffs = Array.from({ length: k }, (_, j) => (j % 2 ? -1 : 1) * (0.1 + j / 3 + 1 / (n + 7)));
        expectSameBits(linComb(coeffs, vecs), linCombJs(coeffs, vecs, new Float32Array(n)));
      }
    }
  });

  it('linComb keeps the float64 accumulation (no float32 rounding of terms or coefficients)', () => {
    // 1 + 2^-30 and -1: in float32 arithmetic the coefficient alone would round to 1 and the sum to 0.
    const n = 256;
    const v = new Float32Array(n).fill(1);
    const out = linComb([1 + 2 ** -30, -1], [v, v]);
    expect(out[0]).toBe(Math.fround(2 ** -30));
    expect(out[n - 1]).toBe(Math.fround(2 ** -30));
    // k >= 4 sums from +0 as the JavaScript loop does: -0 terms give +0.
    const z = new Float32Array(n).fill(-0);
    expect(Object.is(linComb([1, 1, 1, 1], [z, z, z, z])[5], 0)).toBe(true);
    expect(Object.is(linComb([1, 1], [z, z])[5], -0)).toBe(true);
  });

  it('linComb writes into `out`, which may alias an input', () => {
    for (const n of [100, CHUNK + 17]) {
      const a = data(n, 1), b = data(n, 2), c = data(n, 3);
      const want = linCombJs([0.5, -2, 3], [a, b, c], new Float32Array(n));
      const b2 = b.slice();
      expect(linComb([0.5, -2, 3], [a, b2, c], b2)).toBe(b2);
      expectSameBits(b2, want);
    }
    expect(() => linComb([1, 1], [new Float32Array(100), new Float32Array(99)])).toThrow(/vectors/);
    expect(() => linComb([1], [new Float32Array(100)], new Float32Array(99))).toThrow(/out/);
  });

  it('linCombChecked finds the first NaN/Inf of the result in the same pass, as firstNonFinite would', () => {
    for (const wasm of [true, false]) {
      setWasmKernels(wasm);
      for (const n of [5, 70, 2 * CHUNK + 9]) {
        const a = data(n, 4), b = data(n, 5);
        expect(linCombChecked([1, 2], [a, b]).firstNonFinite).toBe(-1);
        for (const at of [0, n - 1, Math.floor(n / 2), Math.min(n - 1, CHUNK + 3)]) {
          const bad = b.slice();
          bad[at] = Number.NaN;
          if (at + 1 < n) bad[at + 1] = Number.POSITIVE_INFINITY;
          const r = linCombChecked([1, 2], [a, bad]);
          expect(r.firstNonFinite).toBe(at);
          expect(firstNonFinite(r.data)).toBe(at);
          expect(firstNonFiniteJs(r.data)).toBe(at);
        }
        // Overflow to Inf when the float64 sum is rounded to float32 counts too.
        const big = new Float32Array(n).fill(3e38);
        const r = linCombChecked([1, 1], [big, big]);
        expect(r.firstNonFinite).toBe(0);
        expect(r.data[n - 1]).toBe(Number.POSITIVE_INFINITY);
      }
    }
  });

  it('linComb2Checked forms two combinations of the same vectors, each bit-identical to linComb, on both paths', () => {
    for (const wasm of [true, false]) {
      setWasmKernels(wasm);
      for (const n of [1, 7, 65, CHUNK + 5, 2 * CHUNK + 3]) {
        for (let k = 1; k <= 7; k++) {
          const vecs = Array.from({ length: k }, (_, j) => data(n, 77 * k + 5 * j + n));
          const c = Array.from({ length: k }, (_, j) => 0.3 - j / 7 + 1 / (n + 3));
          const d = Array.from({ length: k }, (_, j) => (j === 1 ? 0 : (j % 2 ? 1 : -1) * (1.1 + j)));
          const r = linComb2Checked(c, d, vecs);
          expectSameBits(r.data, linCombJs(c, vecs, new Float32Array(n)));
          expectSameBits(r.data2, linCombJs(d, vecs, new Float32Array(n)));
          expect(r.firstNonFinite).toBe(-1);
          // Both outputs over inputs (the state and a kept vector written over themselves).
          if (k >= 2) {
            const v = vecs.map((x) => x.slice());
            const q = linComb2Checked(c, d, v, v[0], v[k - 1]);
            expect(q.data).toBe(v[0]);
            expect(q.data2).toBe(v[k - 1]);
            expectSameBits(v[0], r.data);
            expectSameBits(v[k - 1], r.data2);
          }
        }
      }
      // A NaN reaching only the second output is found too.
      const n = CHUNK + 40, a = data(n, 1), b = data(n, 2);
      b[CHUNK + 7] = Number.NaN;
      expect(linComb2Checked([1, 0], [0, 1], [a, b]).firstNonFinite).toBe(CHUNK + 7);
      expect(() => linComb2Checked([1], [1], [a], a, a)).toThrow(/different arrays/);
    }
  });

  it('predictionFromX0 derives eps = (y - x0) / sigma bit for bit as the JavaScript loop, on both paths', () => {
    for (const n of [5, 64, 65, CHUNK - 3, CHUNK, 2 * CHUNK + 7]) {
      const y = data(n, 11), x0 = data(n, 12);
      y[0] = Number.NaN;
      if (n > 3) {
        x0[1] = Number.POSITIVE_INFINITY;
        y[2] = 3e38;
        x0[2] = -3e38;
      }
      for (const sigma of [80, 1, 0.002, 1e-3 / 3]) {
        const want = new Float32Array(n);
        const inv = 1 / sigma;
        for (let i = 0; i < n; i++) want[i] = (y[i] - x0[i]) * inv;
        for (const wasm of [true, false]) {
          setWasmKernels(wasm);
          expectSameBits(predictionFromX0(y, x0, sigma).eps, want);
        }
      }
    }
  });

  it('firstNonFinite gives the same index on both paths, at chunk edges and in the tail', () => {
    for (const n of SIZES) {
      for (const at of [-1, 0, n - 1, Math.floor(n / 3), CHUNK, CHUNK - 1]) {
        if (at >= n) continue;
        const v = data(n, 6);
        if (at >= 0) v[at] = at % 2 ? Number.NEGATIVE_INFINITY : Number.NaN;
        setWasmKernels(true);
        const w = firstNonFinite(v);
        setWasmKernels(false);
        expect(firstNonFinite(v)).toBe(w);
        expect(w).toBe(at);
      }
    }
  });
});

describe('WebAssembly normals', () => {
  const cases: Array<[number, number, number, number, number, number]> = [
    // seed, first, n, perSample, scale, stream
    [0, 0, 64, 3072, 80, 0],
    [7, 0, 10, 33, 1, 0],
    [1, 5, 3, 1, 1, 0],
    [2, 9, 3, 2, -2.5, 3],
    [3, 0, 2, NORMAL_CHUNK + 7, 0.37, 1],
    [0xffffffff, 0xfffffff0, 16, 70, 1e-3, 0xffffffff],
    [42, 100, 4, 50, 0, 0],
  ];

  it('normalBatch is bit-identical with and without the kernel', () => {
    for (const [seed, first, n, d, scale, stream] of cases) {
      setWasmKernels(true);
      const w = normalBatch(seed, first, n, d, scale, stream);
      setWasmKernels(false);
      const j = normalBatch(seed, first, n, d, scale, stream);
      expectSameBits(w, j);
    }
  });

  it('normalBatch is fround(scale * sampleNormals) value by value', () => {
    const w = normalBatch(11, 3, 2, 101, 1.7, 2);
    for (let k = 0; k < 2; k++) {
      const ref = sampleNormals(11, 3 + k, 101, 2);
      for (let i = 0; i < 101; i++) expect(w[k * 101 + i]).toBe(Math.fround(1.7 * ref[i]));
    }
  });

  it('flags the rare outputs it cannot round with certainty, and the recomputed ones match Math.*', () => {
    // About 1 output in 20 000 lands near a float32 rounding boundary or a zero of cos/sin; they must be flagged
    // (so this path is exercised) and normalBatch must give exactly the Math.* values there.
    let flagged = 0;
    for (let index = 0; index < 40; index++) {
      const chunk = wasmNormals(5, index, 0, 0, NORMAL_CHUNK / 4, 1)!;
      const flags = Array.from(chunk.flags);
      if (flags.length === 0) continue;
      const ref = sampleNormals(5, index, NORMAL_CHUNK);
      const batch = normalBatch(5, index, 1, NORMAL_CHUNK);
      for (let q = 0; q < flags.length; q += 2) {
        for (let bit = 0; bit < 16; bit++) {
          if ((flags[q + 1] >>> bit) & 1) {
            const t = 16 * flags[q] + bit;
            expect(batch[t]).toBe(Math.fround(ref[t]));
            flagged++;
          }
        }
      }
    }
    expect(flagged).toBeGreaterThan(5);
  });
});
