// Seeded, counter-based normal noise: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as easy as
// 1, 2, 3") with the Box-Muller transform. The key is (seed, sample index) and the counter is (block, stream), so
// sample k of seed s is the same numbers on every machine and whatever the batch size or split across processes.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the unsigned 64-bit product a*b. */
function mulhi(a: number, b: number): number {
  const aHi = a >>> 16, aLo = a & 0xffff, bHi = b >>> 16, bLo = b & 0xffff;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lolo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** One Philox4x32-10 block: 4 uint32 outputs for a 4x32 counter and a 2x32 key. */
export function philox4x32(counter: readonly number[], key: readonly number[]): Uint32Array {
  let c0 = counter[0] >>> 0, c1 = counter[1] >>> 0, c2 = counter[2] >>> 0, c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

function checkUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be an integer in [0, 2^32), got ${v}`);
}

const TWO_PI = 2 * Math.PI;
const INV_2_32 = 1 / 4294967296;

/**
 * `count` standard normal values for sample `index` of `seed`, noise stream `stream` (0 = the initial noise;
 * stochastic solvers use stream i+1 for step i). Box-Muller on (u + 0.5) / 2^32, so no uniform is 0.
 */
export function sampleNormals(seed: number, index: number, count: number, stream = 0, out?: Float64Array): Float64Array {
  checkUint32('seed', seed);
  checkUint32('sample index', index);
  checkUint32('stream', stream);
  const res = out ?? new Float64Array(count);
  const key = [seed, index];
  for (let block = 0, i = 0; i < count; block++) {
    const u = philox4x32([block, stream, 0, 0], key);
    for (let p = 0; p < 4 && i < count; p += 2) {
      const r = Math.sqrt(-2 * Math.log((u[p] + 0.5) * INV_2_32));
      const th = TWO_PI * (u[p + 1] + 0.5) * INV_2_32;
      res[i++] = r * Math.cos(th);
      if (i < count) res[i++] = r * Math.sin(th);
    }
  }
  return res;
}

/** Noise for samples [first, first + n) of `seed`, each of `perSample` values, scaled by `scale`, as float32. */
export function normalBatch(seed: number, first: number, n: number, perSample: number, scale = 1, stream = 0): Float32Array {
  const out = new Float32Array(n * perSample);
  const tmp = new Float64Array(perSample);
  for (let k = 0; k < n; k++) {
    sampleNormals(seed, first + k, perSample, stream, tmp);
    const off = k * perSample;
    for (let i = 0; i < perSample; i++) out[off + i] = scale * tmp[i];
  }
  return out;
}
