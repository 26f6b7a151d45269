// Seeded, counter-based normal noise: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as
// 1, 2, 3") with the Box-Muller transform. The key is (seed, sample index) and the counter is (block, stream), so
// sample k of seed s is the same numbers on every machine and whatever the batch size or split across processes.

import { NORMAL_CHUNK, wasmKernelsActive, wasmNormals } from './kernels.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * High 32 bits of the unsigned 64-bit product m*c, m a 32-bit constant: m * (c >>> 16) and m * (c & 0xffff) are
 * below 2^48, exact in float64, and so is their carry-adjusted sum below 2^49.
 */
function mulhi(m: number, c: number): number {
  return ((m * (c >>> 16) + ((m * (c & 0xffff)) / 65536 >>> 0)) / 65536) >>> 0;
}

/** Philox4x32-10 of counter (c0, c1, c2, c3) and key (k0, k1) into out[0..3]; no allocation. */
function philoxInto(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0);
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1 >>> 0;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0 >>> 0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** One Philox4x32-10 block: 4 uint32 outputs for a 4x32 counter and a 2x32 key. */
export function philox4x32(counter: readonly number[], key: readonly number[]): Uint32Array {
  const out = new Uint32Array(4);
  philoxInto(counter[0] >>> 0, counter[1] >>> 0, counter[2] >>> 0, counter[3] >>> 0, key[0] >>> 0, key[1] >>> 0, out);
  return out;
}

function checkUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be an integer in [0, 2^32), got ${v}`);
}

const TWO_PI = 2 * Math.PI;
const INV_2_32 = 1 / 4294967296;
const words = new Uint32Array(4);

/**
 * `count` standard normal values for sample `index` of `seed`, noise stream `stream` (0 = the initial noise;
 * stochastic solvers use stream i+1 for step i). Box-Muller on (u + 0.5) / 2^32, so no uniform is 0.
 */
export function sampleNormals(seed: number, index: number, count: number, stream = 0, out?: Float64Array): Float64Array {
  checkUint32('seed', seed);
  checkUint32('sample index', index);
  checkUint32('stream', stream);
  const res = out ?? new Float64Array(count);
  const u = words;
  for (let block = 0, i = 0; i < count; block++) {
    philoxInto(block, stream, 0, 0, seed, index, u);
    for (let p = 0; p < 4 && i < count; p += 2) {
      const r = Math.sqrt(-2 * Math.log((u[p] + 0.5) * INV_2_32));
      const th = TWO_PI * (u[p + 1] + 0.5) * INV_2_32;
      res[i++] = r * Math.cos(th);
      if (i < count) res[i++] = r * Math.sin(th);
    }
  }
  return res;
}

/** Output t of sampleNormals(seed, index, ., stream), times scale, exactly as sampleNormals computes it. */
function normalAt(seed: number, index: number, stream: number, t: number, scale: number): number {
  philoxInto(Math.floor(t / 4), stream, 0, 0, seed, index, words);
  const p = t & 2;
  const r = Math.sqrt(-2 * Math.log((words[p] + 0.5) * INV_2_32));
  const th = TWO_PI * (words[p + 1] + 0.5) * INV_2_32;
  return scale * ((t & 1) === 0 ? r * Math.cos(th) : r * Math.sin(th));
}

/**
 * Noise for samples [first, first + n) of `seed`, each of `perSample` values, scaled by `scale`, as float32:
 * out = fround(scale * sampleNormals(...)[i]). With WebAssembly SIMD the Philox and Box-Muller work runs in the
 * kernel of kernels.ts (fdlibm's log/sin/cos in f64x2 lanes); an output whose float32 rounding those last-bit
 * differences from Math.log/cos/sin could change is flagged by the kernel and recomputed here, so the result is
 * bit-identical to the plain path either way. `into`: an array of n * perSample values to write (else a fresh one).
 */
export function normalBatch(seed: number, first: number, n: number, perSample: number, scale = 1, stream = 0, into?: Float32Array): Float32Array {
  checkUint32('seed', seed);
  checkUint32('stream', stream);
  checkUint32('sample index', first);
  if (n > 0) checkUint32('sample index', first + n - 1);
  if (into && into.length !== n * perSample) throw new RangeError(`normalBatch: into has ${into.length} values, expected ${n * perSample}`);
  const out = into ?? new Float32Array(n * perSample);
  if (n === 0 || perSample === 0) return out;
  if (wasmKernelsActive()) {
    const blocks = Math.ceil(perSample / 4);
    const maxBlocks = NORMAL_CHUNK / 4;
    for (let k = 0; k < n; k++) {
      const index = first + k;
      for (let b0 = 0; b0 < blocks; b0 += maxBlocks) {
        const nb = Math.min(maxBlocks, (blocks - b0 + 3) & ~3);
        const { values, flags } = wasmNormals(seed, index, stream, b0, nb, scale)!;
        for (let q = 0; q < flags.length; q += 2) {
          const g = flags[q], mask = flags[q + 1];
          for (let bit = 0; bit < 16; bit++) {
            if ((mask >>> bit) & 1) values[16 * g + bit] = normalAt(seed, index, stream, 4 * b0 + 16 * g + bit, scale);
          }
        }
        const m = Math.min(4 * nb, perSample - 4 * b0);
        out.set(m === values.length ? values : values.subarray(0, m), k * perSample + 4 * b0);
      }
    }
    return out;
  }
  const tmp = new Float64Array(perSample);
  for (let k = 0; k < n; k++) {
    sampleNormals(seed, first + k, perSample, stream, tmp);
    const off = k * perSample;
    for (let i = 0; i < perSample; i++) out[off + i] = scale * tmp[i];
  }
  return out;
}
