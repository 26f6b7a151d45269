// WebAssembly SIMD kernels for the per-step vector work (linear combinations, the non-finite check) and the initial
// noise, over a fixed WebAssembly.Memory arena. The kernels themselves are in scripts/build-kernels.mjs (WAT source)
// and its generated output kernels-wasm.ts. Browser-safe: no Node imports.
//
// Why an arena and chunks: WebAssembly can only address its own memory, while batches are ordinary Float32Arrays.
// So each call streams its vectors through in chunks of CHUNK floats: copy the chunk in (TypedArray.set, a memcpy),
// run the kernel, copy the result out. A chunk of every vector stays in L2, so the data still crosses main memory
// once, as in the scalar loop, and the SIMD kernel runs on cached data.
//
// Feature detection happens once, on first use: no WebAssembly, no SIMD (WebAssembly.validate fails) or
// IIA_KERNELS=js in the environment leave the callers on their plain JavaScript paths (same results). A browser
// main thread refuses a synchronous compile of a module over 4 KiB; then the module is compiled in the background
// and the JavaScript paths serve until it is ready (`kernelsReady()` waits for it).
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** Floats per arena slot; 7 slots (up to 6 inputs, the output written over slot 0) = 896 KiB, within a 1 MiB L2. */
export const CHUNK = 32768;
const SLOTS = 7;
/** Arena layout: the slots, then the normals and their flag records. */
const SLOT_OFF = 0;
const LC_BYTES = SLOTS * CHUNK * 4;
/** Normals per kernel call (a multiple of 16) and where they and their flag records live. */
export const NORMAL_CHUNK = 16384;
const NORMAL_OFF = SLOT_OFF + LC_BYTES;
const FLAG_OFF = NORMAL_OFF + NORMAL_CHUNK * 4;
const PAGES = Math.ceil((FLAG_OFF + (NORMAL_CHUNK / 16) * 8) / 65536);

interface Exports {
  lc1(p0: number, c0: number, o: number, n: number): number;
  lc2(p0: number, p1: number, c0: number, c1: number, o: number, n: number): number;
  lc3(p0: number, p1: number, p2: number, c0: number, c1: number, c2: number, o: number, n: number): number;
  lc4(p0: number, p1: number, p2: number, p3: number, c0: number, c1: number, c2: number, c3: number, o: number, n: number): number;
  lc5(p0: number, p1: number, p2: number, p3: number, p4: number, c0: number, c1: number, c2: number, c3: number, c4: number, o: number, n: number): number;
  lc6(
    p0: number, p1: number, p2: number, p3: number, p4: number, p5: number,
    c0: number, c1: number, c2: number, c3: number, c4: number, c5: number, o: number, n: number,
  ): number;
  /** lc{k}x2(p_0..p_{k-1}, c_0..c_{k-1}, d_0..d_{k-1}, o, o2, n): two combinations of the same inputs. */
  [two: `lc${number}x2`]: (...args: number[]) => number;
  scaleddiff(a: number, b: number, c: number, o: number, n: number): void;
  nonfinite(p: number, n: number): number;
  normals(seed: number, index: number, stream: number, block0: number, nblocks: number, scale: number, o: number, flags: number): number;
}

interface Ready {
  x: Exports;
  f32: Float32Array;
  i32: Int32Array;
  /** Full-slot views, reused so a whole chunk needs no new view object. */
  slots: Float32Array[];
}

let ready: Ready | null = null;
let tried = false;
let pending: Promise<void> | null = null;
let enabled = !envSaysJs();

function envSaysJs(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.IIA_KERNELS === 'js';
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function setup(instance: WebAssembly.Instance, mem: WebAssembly.Memory): void {
  const f32 = new Float32Array(mem.buffer);
  const slots: Float32Array[] = [];
  const s0 = SLOT_OFF / 4;
  for (let j = 0; j < SLOTS; j++) slots.push(f32.subarray(s0 + j * CHUNK, s0 + (j + 1) * CHUNK));
  ready = { x: instance.exports as unknown as Exports, f32, i32: new Int32Array(mem.buffer), slots };
}

function init(): void {
  tried = true;
  try {
    if (typeof WebAssembly !== 'object' || typeof atob !== 'function') return;
    const bytes = decode(KERNELS_WASM_BASE64);
    if (!WebAssembly.validate(bytes)) return; // no SIMD here
    // A fixed size: the buffer never detaches, so views made once stay valid.
    const mem = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
    const imports = { env: { mem } };
    try {
      setup(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports), mem);
    } catch {
      pending = WebAssembly.instantiate(bytes, imports).then(
        (r) => setup(r.instance, mem),
        () => undefined,
      );
    }
  } catch {
    ready = null;
  }
}

function kernels(): Ready | null {
  if (!tried) init();
  return enabled ? ready : null;
}

/** Whether the WebAssembly SIMD kernels are in use (after feature detection, which this triggers). */
export function wasmKernelsActive(): boolean {
  return kernels() !== null;
}

/** Resolves once feature detection (and a background compile, in a browser) is over; true when wasm is in use. */
export async function kernelsReady(): Promise<boolean> {
  if (!tried) init();
  if (pending) await pending;
  return wasmKernelsActive();
}

/** Turn the WebAssembly kernels off (false) or back on (true, when available): for tests and benchmarks. */
export function setWasmKernels(on: boolean): void {
  enabled = on;
}

/** Index of the first non-finite value of a[0, n), scanning in JavaScript (called only when a kernel saw one). */
function scanNonFinite(a: Float32Array, n: number): number {
  for (let i = 0; i < n; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** Below this many values a call's overhead outweighs SIMD: callers stay in JavaScript. */
export const WASM_MIN_LENGTH = 64;

/**
 * Streams equal-length arrays through the arena, CHUNK values at a time: each chunk of inputs[j] is copied into slot j,
 * `run(m)` runs a kernel on those m values (returning its non-finite flag, 0 for none), and output slot q is copied
 * into outputs[q]. Returns the index of the first NaN/Inf of the outputs in the first chunk a kernel flagged, or -1.
 */
function streamChunks(r: Ready, inputs: readonly Float32Array[], outputs: readonly { slot: number; array: Float32Array }[], run: (m: number) => number): number {
  const { slots } = r;
  const n = outputs[0].array.length;
  let bad = -1;
  for (let s = 0; s < n; s += CHUNK) {
    const m = Math.min(CHUNK, n - s);
    const whole = s === 0 && m === n;
    for (let j = 0; j < inputs.length; j++) slots[j].set(whole ? inputs[j] : inputs[j].subarray(s, s + m));
    const flag = run(m);
    const flagged = flag !== 0 && bad < 0;
    for (const { slot, array } of outputs) {
      const res = m === CHUNK ? slots[slot] : slots[slot].subarray(0, m);
      array.set(res, s);
      const i = flagged ? scanNonFinite(res, m) : -1;
      if (i >= 0 && (bad < 0 || s + i < bad)) bad = s + i;
    }
  }
  return bad;
}

/**
 * out = sum_j coeffs[j] vecs[j] (k = 1..6), bit-identical to batch.ts's float64 reference. `out` may alias an input.
 * Returns the index of the first NaN/Inf in `out`, or -1; or null when the kernels are unavailable or k > 6.
 */
export function wasmLinComb(coeffs: readonly number[], vecs: readonly Float32Array[], out: Float32Array): number | null {
  const r = kernels();
  const k = vecs.length;
  if (r === null || k < 1 || k > 6) return null;
  const { x } = r;
  const B = CHUNK * 4, P = SLOT_OFF;
  const c = coeffs;
  return streamChunks(r, vecs, [{ slot: 0, array: out }], (m) => {
    switch (k) {
      case 1: return x.lc1(P, c[0], P, m);
      case 2: return x.lc2(P, P + B, c[0], c[1], P, m);
      case 3: return x.lc3(P, P + B, P + 2 * B, c[0], c[1], c[2], P, m);
      case 4: return x.lc4(P, P + B, P + 2 * B, P + 3 * B, c[0], c[1], c[2], c[3], P, m);
      case 5: return x.lc5(P, P + B, P + 2 * B, P + 3 * B, P + 4 * B, c[0], c[1], c[2], c[3], c[4], P, m);
      default: return x.lc6(P, P + B, P + 2 * B, P + 3 * B, P + 4 * B, P + 5 * B, c[0], c[1], c[2], c[3], c[4], c[5], P, m);
    }
  });
}

/**
 * out = sum_j c_j vecs[j] and out2 = sum_j d_j vecs[j] in one pass (k = 1..6), each bit-identical to wasmLinComb of
 * its coefficients over the same vectors. Either output may alias an input (not each other). Returns the index of the
 * first NaN/Inf in out or out2 (whichever comes first in the pass), or -1; null when the kernels are unavailable or
 * k > 6.
 */
export function wasmLinComb2(
  coeffs: readonly number[],
  coeffs2: readonly number[],
  vecs: readonly Float32Array[],
  out: Float32Array,
  out2: Float32Array,
): number | null {
  const r = kernels();
  const k = vecs.length;
  if (r === null || k < 1 || k > 6) return null;
  const fn = r.x[`lc${k}x2`];
  const B = CHUNK * 4, P = SLOT_OFF;
  // Inputs in slots 0..k-1, out over slot 0, out2 in the last slot (k <= 6 < SLOTS).
  const args = [...Array.from({ length: k }, (_, j) => P + j * B), ...coeffs, ...coeffs2, P, P + (SLOTS - 1) * B, 0];
  return streamChunks(r, vecs, [{ slot: 0, array: out }, { slot: SLOTS - 1, array: out2 }], (m) => {
    args[args.length - 1] = m;
    return fn(...args);
  });
}

/**
 * out[i] = fround((a[i] - b[i]) * c), bit-identical to that JavaScript expression (eps = (y - x0) * (1 / sigma) from a
 * data prediction). `out` may alias a or b. False when the kernels are unavailable (nothing written).
 */
export function wasmScaledDiff(a: Float32Array, b: Float32Array, c: number, out: Float32Array): boolean {
  const r = kernels();
  if (r === null) return false;
  const P = SLOT_OFF;
  streamChunks(r, [a, b], [{ slot: 0, array: out }], (m) => {
    r.x.scaleddiff(P, P + CHUNK * 4, c, P, m);
    return 0;
  });
  return true;
}

/** Index of the first NaN/Inf of v, or -1; null when the kernels are unavailable. */
export function wasmFirstNonFinite(v: Float32Array): number | null {
  const r = kernels();
  if (r === null) return null;
  const { x, slots } = r;
  const n = v.length;
  for (let s = 0; s < n; s += CHUNK) {
    const m = Math.min(CHUNK, n - s);
    slots[0].set(s === 0 && m === n ? v : v.subarray(s, s + m));
    if (x.nonfinite(SLOT_OFF, m) !== 0) return s + scanNonFinite(slots[0], m);
  }
  return -1;
}

/** Output of one `wasmNormals` call: arena views, valid until the next kernel call. */
export interface NormalsChunk {
  /** 4 * nblocks float32 values: fround(scale * normal) for outputs 4 * block0 ... */
  values: Float32Array;
  /** Pairs (group, mask): output 16 * group + b (bit b of mask) must be recomputed with Math.log/cos/sin. */
  flags: Int32Array;
}

/**
 * Philox4x32-10 + Box-Muller outputs [4 block0, 4 (block0 + nblocks)) of (seed, index, stream), scaled and rounded
 * to float32; nblocks a positive multiple of 4, at most NORMAL_CHUNK / 4. Null when the kernels are unavailable.
 */
export function wasmNormals(seed: number, index: number, stream: number, block0: number, nblocks: number, scale: number): NormalsChunk | null {
  const r = kernels();
  if (r === null) return null;
  if (nblocks <= 0 || nblocks % 4 !== 0 || nblocks * 4 > NORMAL_CHUNK) throw new RangeError(`wasmNormals: bad block count ${nblocks}`);
  const nf = r.x.normals(seed | 0, index | 0, stream | 0, block0 | 0, nblocks, scale, NORMAL_OFF, FLAG_OFF);
  return {
    values: r.f32.subarray(NORMAL_OFF / 4, NORMAL_OFF / 4 + nblocks * 4),
    flags: r.i32.subarray(FLAG_OFF / 4, FLAG_OFF / 4 + 2 * nf),
  };
}
