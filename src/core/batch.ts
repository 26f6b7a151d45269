// A batch is a Float32Array plus a shape; the first axis is the batch. Vector helpers used by every solver.
import { WASM_MIN_LENGTH, wasmFirstNonFinite, wasmLinComb, wasmLinComb2 } from './kernels.js';

export interface Batch {
  data: Float32Array;
  /** Full shape, first axis = number of samples. */
  shape: number[];
}

export function sampleSize(shape: readonly number[]): number {
  let n = 1;
  for (let i = 1; i < shape.length; i++) n *= shape[i];
  return n;
}

export function batchCount(b: Batch): number {
  return b.shape[0];
}

export function makeBatch(shape: number[], data?: Float32Array): Batch {
  const total = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== total) throw new Error(`batch data has ${data.length} values, shape [${shape}] needs ${total}`);
  return { data: data ?? new Float32Array(total), shape: [...shape] };
}

/** Samples [start, end) of a batch, sharing no memory with it. */
export function sliceBatch(b: Batch, start: number, end: number): Batch {
  const d = sampleSize(b.shape);
  return { data: b.data.slice(start * d, end * d), shape: [end - start, ...b.shape.slice(1)] };
}

export function concatBatches(parts: Batch[]): Batch {
  if (parts.length === 0) throw new Error('concatBatches needs at least one batch');
  const n = parts.reduce((a, p) => a + p.shape[0], 0);
  const out = makeBatch([n, ...parts[0].shape.slice(1)]);
  let off = 0;
  for (const p of parts) {
    out.data.set(p.data, off);
    off += p.data.length;
  }
  return out;
}

/**
 * out = sum_k c_k v_k, accumulated in float64 per element and rounded once to float32. `out` may alias one of the
 * inputs. With WebAssembly SIMD (k <= 6) the same float64 arithmetic runs in f64x2 lanes: the results are
 * bit-identical to the plain loop, which stays as the fallback.
 */
export function linComb(coeffs: readonly number[], vecs: readonly Float32Array[], out?: Float32Array): Float32Array {
  const n = checkLinComb(coeffs, vecs, out);
  const res = out ?? new Float32Array(n);
  if (n < WASM_MIN_LENGTH || wasmLinComb(coeffs, vecs, res) === null) linCombJs(coeffs, vecs, res);
  return res;
}

/**
 * linComb that also reports, from the same pass, the index of the first NaN/Inf of the result (-1 when all are
 * finite): a solver's last combination can stand in for a separate firstNonFinite pass over the new state.
 */
export function linCombChecked(
  coeffs: readonly number[],
  vecs: readonly Float32Array[],
  out?: Float32Array,
): { data: Float32Array; firstNonFinite: number } {
  const n = checkLinComb(coeffs, vecs, out);
  const data = out ?? new Float32Array(n);
  const bad = n < WASM_MIN_LENGTH ? null : wasmLinComb(coeffs, vecs, data);
  if (bad !== null) return { data, firstNonFinite: bad };
  linCombJs(coeffs, vecs, data);
  return { data, firstNonFinite: firstNonFiniteJs(data) };
}

/**
 * Two combinations of the same vectors in one pass: data = linComb(coeffs, vecs) and data2 = linComb(coeffs2, vecs),
 * each bit for bit, with the index of the first NaN/Inf in either (-1 when both are finite). Reads every vector once:
 * a step that forms its new state and a vector it keeps for later steps pays one pass, not two. `out` and `out2` may
 * each alias an input (every element is read before it is written), not each other.
 */
export function linComb2Checked(
  coeffs: readonly number[],
  coeffs2: readonly number[],
  vecs: readonly Float32Array[],
  out?: Float32Array,
  out2?: Float32Array,
): { data: Float32Array; data2: Float32Array; firstNonFinite: number } {
  const n = checkLinComb(coeffs, vecs, out);
  checkLinComb(coeffs2, vecs, out2);
  const data = out ?? new Float32Array(n);
  const data2 = out2 ?? new Float32Array(n);
  if (data === data2) throw new Error('linComb2: the two outputs must be different arrays');
  const bad = n < WASM_MIN_LENGTH ? null : wasmLinComb2(coeffs, coeffs2, vecs, data, data2);
  if (bad !== null) return { data, data2, firstNonFinite: bad };
  // The plain path: an output that aliases an input is written only after both combinations have read it.
  const aliased = vecs.includes(data) || vecs.includes(data2);
  const a = aliased ? new Float32Array(n) : data, b = aliased ? new Float32Array(n) : data2;
  linCombJs(coeffs, vecs, a);
  linCombJs(coeffs2, vecs, b);
  if (aliased) {
    data.set(a);
    data2.set(b);
  }
  const i1 = firstNonFiniteJs(data), i2 = firstNonFiniteJs(data2);
  return { data, data2, firstNonFinite: i1 < 0 ? i2 : i2 < 0 ? i1 : Math.min(i1, i2) };
}

function checkLinComb(coeffs: readonly number[], vecs: readonly Float32Array[], out: Float32Array | undefined): number {
  if (coeffs.length !== vecs.length) throw new Error('linComb: coefficient and vector counts differ');
  if (vecs.length === 0) throw new Error('linComb: needs at least one vector');
  const n = vecs[0].length;
  for (const v of vecs) if (v.length !== n) throw new Error(`linComb: vectors of ${n} and ${v.length} values`);
  if (out && out.length !== n) throw new Error(`linComb: out has ${out.length} values, the vectors ${n}`);
  return n;
}

/** The plain JavaScript linear combination (the reference and the fallback of the WebAssembly kernel). */
export function linCombJs(coeffs: readonly number[], vecs: readonly Float32Array[], res: Float32Array): Float32Array {
  const n = res.length;
  const k = vecs.length;
  if (k === 1) {
    const c0 = coeffs[0], v0 = vecs[0];
    for (let i = 0; i < n; i++) res[i] = c0 * v0[i];
  } else if (k === 2) {
    const c0 = coeffs[0], c1 = coeffs[1], v0 = vecs[0], v1 = vecs[1];
    for (let i = 0; i < n; i++) res[i] = c0 * v0[i] + c1 * v1[i];
  } else if (k === 3) {
    const c0 = coeffs[0], c1 = coeffs[1], c2 = coeffs[2], v0 = vecs[0], v1 = vecs[1], v2 = vecs[2];
    for (let i = 0; i < n; i++) res[i] = c0 * v0[i] + c1 * v1[i] + c2 * v2[i];
  } else {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += coeffs[j] * vecs[j][i];
      res[i] = s;
    }
  }
  return res;
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(v: Float32Array): number {
  if (v.length >= WASM_MIN_LENGTH) {
    const r = wasmFirstNonFinite(v);
    if (r !== null) return r;
  }
  return firstNonFiniteJs(v);
}

/** firstNonFinite in plain JavaScript: a branch-free sum first (v - v is 0 for finite v, NaN otherwise). */
export function firstNonFiniteJs(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] - v[i];
  if (s === 0) return -1;
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return i;
  return -1;
}
