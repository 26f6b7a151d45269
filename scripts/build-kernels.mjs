// Generates src/core/kernels-wasm.ts: the WebAssembly SIMD kernels of src/core/kernels.ts (linear combinations with a
// fused non-finite check, a non-finite scan, Philox4x32-10 + Box-Muller normals), written here as WAT text and
// assembled with wabt (a devDependency used only by this script). The generated module is committed, so installing
// or building the package needs nothing extra. Regenerate after editing this file:
//   node scripts/build-kernels.mjs            (add --wat FILE to also write the assembled WAT text)
// The module imports its memory (env.mem) so the arena layout lives in one place, kernels.ts.
import fs from 'node:fs';
import path from 'node:path';
import wabtInit from 'wabt';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outFile = path.join(root, 'src', 'core', 'kernels-wasm.ts');

// ---------------------------------------------------------------------------------------------------------------
// Linear combinations out = sum_j c_j v_j (and a second one over the same inputs) over n float32 values, in float64 exactly as the JavaScript reference in
// batch.ts does it: each element promoted to f64, multiplied by the f64 coefficient, summed left to right (from an
// explicit 0 for k >= 4, as the reference's general loop), rounded once to f32. f64x2 lanes, so bit-identical.
// Returns 1 when an output is NaN or +-Inf (x - x is +0 for finite x, NaN otherwise; OR-ed over the pass).
// ---------------------------------------------------------------------------------------------------------------
const HI_TO_LO = 'i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15';
const JOIN_LO = 'i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23';

/**
 * lc{k}: out = sum_j c_j v_j. lc{k}x2 (`two`): also out2 = sum_j d_j v_j over the same inputs in the same pass (each
 * output summed exactly as lc{k} sums it), for a step that forms its new state and a vector it keeps (IIA's stored
 * gradient) at once. Every input element is read before either output element is written, so o (and o2) may be an
 * input's slot. The flag covers both outputs.
 */
function linComb(k, two = false) {
  const params = [];
  for (let j = 0; j < k; j++) params.push(`(param $p${j} i32)`);
  for (let j = 0; j < k; j++) params.push(`(param $c${j} f64)`);
  if (two) for (let j = 0; j < k; j++) params.push(`(param $d${j} f64)`);
  const sets = two ? [['c', 'C', ''], ['d', 'D', '2']] : [['c', 'C', '']];
  const splats = [];
  const locals = [];
  for (const [c, C] of sets) {
    for (let j = 0; j < k; j++) {
      splats.push(`(local.set $${C}${j} (f64x2.splat (local.get $${c}${j})))`);
      locals.push(`(local $${C}${j} v128)`);
    }
  }
  // Vector body: 4 floats per input per iteration, each input promoted once.
  const body = [];
  for (let j = 0; j < k; j++) {
    body.push(`(local.set $a (v128.load (i32.add (local.get $p${j}) (local.get $i))))`);
    // One output: the promotions inline (measured faster for k <= 4); two: each input promoted once, used twice.
    const promLo = `(f64x2.promote_low_f32x4 (local.get $a))`, promHi = `(f64x2.promote_low_f32x4 (${HI_TO_LO} (local.get $a) (local.get $a)))`;
    if (two) body.push(`(local.set $alo ${promLo})`, `(local.set $ahi ${promHi})`);
    for (const [, C, sfx] of sets) {
      const lo = `(f64x2.mul (local.get $${C}${j}) ${two ? '(local.get $alo)' : promLo})`;
      const hi = `(f64x2.mul (local.get $${C}${j}) ${two ? '(local.get $ahi)' : promHi})`;
      if (j === 0 && k < 4) {
        body.push(`(local.set $lo${sfx} ${lo})`, `(local.set $hi${sfx} ${hi})`);
      } else if (j === 0) {
        body.push(`(local.set $lo${sfx} (f64x2.add (v128.const i64x2 0 0) ${lo}))`, `(local.set $hi${sfx} (f64x2.add (v128.const i64x2 0 0) ${hi}))`);
      } else {
        body.push(`(local.set $lo${sfx} (f64x2.add (local.get $lo${sfx}) ${lo}))`, `(local.set $hi${sfx} (f64x2.add (local.get $hi${sfx}) ${hi}))`);
      }
    }
  }
  const stores = [];
  for (const [, , sfx] of sets) {
    stores.push(
      `(local.set $r (${JOIN_LO} (f32x4.demote_f64x2_zero (local.get $lo${sfx})) (f32x4.demote_f64x2_zero (local.get $hi${sfx}))))`,
      `(v128.store (i32.add (local.get $o${sfx}) (local.get $i)) (local.get $r))`,
      `(local.set $bad (v128.or (local.get $bad) (f32x4.sub (local.get $r) (local.get $r))))`,
    );
  }
  // Scalar tail (n % 4 values).
  const tail = [];
  for (let j = 0; j < k; j++) {
    tail.push(`(local.set $ax (f64.promote_f32 (f32.load (i32.add (local.get $p${j}) (local.get $i)))))`);
    for (const [c, , sfx] of sets) {
      const term = `(f64.mul (local.get $${c}${j}) (local.get $ax))`;
      if (j === 0 && k < 4) tail.push(`(local.set $x${sfx} ${term})`);
      else if (j === 0) tail.push(`(local.set $x${sfx} (f64.add (f64.const 0) ${term}))`);
      else tail.push(`(local.set $x${sfx} (f64.add (local.get $x${sfx}) ${term}))`);
    }
  }
  const tailStores = [];
  for (const [, , sfx] of sets) {
    tailStores.push(
      `(local.set $f (f32.demote_f64 (local.get $x${sfx})))`,
      `(f32.store (i32.add (local.get $o${sfx}) (local.get $i)) (local.get $f))`,
      `(local.set $sbad (i32.or (local.get $sbad) (i32.reinterpret_f32 (f32.sub (local.get $f) (local.get $f)))))`,
    );
  }
  return `
  (func (export "lc${k}${two ? 'x2' : ''}") ${params.join(' ')} (param $o i32) ${two ? '(param $o2 i32) ' : ''}(param $n i32) (result i32)
    ${locals.join(' ')}
    (local $a v128) (local $alo v128) (local $ahi v128) (local $lo v128) (local $hi v128) (local $lo2 v128) (local $hi2 v128)
    (local $r v128) (local $bad v128)
    (local $i i32) (local $end i32) (local $ax f64) (local $x f64) (local $x2 f64) (local $f f32) (local $sbad i32)
    ${splats.join('\n    ')}
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done (loop $L
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      ${body.join('\n      ')}
      ${stores.join('\n      ')}
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $L)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tdone (loop $T
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      ${tail.join('\n      ')}
      ${tailStores.join('\n      ')}
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $T)))
    (i32.or (v128.any_true (local.get $bad)) (i32.ne (local.get $sbad) (i32.const 0))))`;
}

// o[i] = f32((f64(a[i]) - f64(b[i])) * c): the noise prediction eps = (y - x0) / sigma derived from a data prediction,
// exactly as the JavaScript expression (y[i] - x0[i]) * inv evaluates it (one f64 subtraction, one f64 product, one
// rounding to f32). o may be a or b.
const scaledDiff = `
  (func (export "scaleddiff") (param $a i32) (param $b i32) (param $c f64) (param $o i32) (param $n i32)
    (local $i i32) (local $end i32) (local $C v128) (local $x v128) (local $z v128) (local $lo v128) (local $hi v128)
    (local.set $C (f64x2.splat (local.get $c)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done (loop $L
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $x (v128.load (i32.add (local.get $a) (local.get $i))))
      (local.set $z (v128.load (i32.add (local.get $b) (local.get $i))))
      (local.set $lo (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.promote_low_f32x4 (local.get $z))) (local.get $C)))
      (local.set $hi (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (${HI_TO_LO} (local.get $x) (local.get $x)))
        (f64x2.promote_low_f32x4 (${HI_TO_LO} (local.get $z) (local.get $z)))) (local.get $C)))
      (v128.store (i32.add (local.get $o) (local.get $i))
        (${JOIN_LO} (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $L)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tdone (loop $T
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (f32.store (i32.add (local.get $o) (local.get $i)) (f32.demote_f64 (f64.mul
        (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $a) (local.get $i)))) (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $i)))))
        (local.get $c))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $T))))`;

// 1 when any of the n float32 values at p is NaN or +-Inf.
const nonFinite = `
  (func (export "nonfinite") (param $p i32) (param $n i32) (result i32)
    (local $i i32) (local $end i32) (local $a v128) (local $b v128) (local $f f32) (local $sbad i32)
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2)))
    (block $done (loop $L
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $a (v128.load (i32.add (local.get $p) (local.get $i))))
      (local.set $b (v128.load offset=16 (i32.add (local.get $p) (local.get $i))))
      (local.set $a (v128.or (f32x4.sub (local.get $a) (local.get $a)) (f32x4.sub (local.get $b) (local.get $b))))
      (if (v128.any_true (local.get $a)) (then (return (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 32)))
      (br $L)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $tdone (loop $T
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $f (f32.load (i32.add (local.get $p) (local.get $i))))
      (local.set $sbad (i32.or (local.get $sbad) (i32.reinterpret_f32 (f32.sub (local.get $f) (local.get $f)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $T)))
    (i32.ne (local.get $sbad) (i32.const 0)))`;

// ---------------------------------------------------------------------------------------------------------------
// Normals: Philox4x32-10 on 4 consecutive blocks at once (one block per i32x4 lane), then Box-Muller in f64x2 with
// fdlibm's log and sin/cos kernels (the algorithms behind Math.log/sin/cos), then scale and round to f32 as
// normalBatch does. These f64 values can differ from Math's in the last bits, so each output is checked: when
// rounding w (1 +- 2^-40) to f32 would not give one value, or |cos| or |sin| < 2^-14 (where an absolute error of the
// argument reduction is a larger relative one), the output is flagged and normalBatch (rng.ts) recomputes it with Math.*.
// A flag record is (group, 16-bit mask) of i32s; a group is 4 blocks = 16 outputs. Returns the number of records.
// ---------------------------------------------------------------------------------------------------------------
// Vector constants are written inline: TurboFan treats a v128.const as a constant node and re-materialises it at
// its uses whatever the WAT does (a local set once, or a table in memory whose loads it hoists and then spills).
const f64c = (x) => `(v128.const f64x2 ${x} ${x})`;
const i64c = (x) => `(v128.const i64x2 ${x} ${x})`;
const i32c = (x) => `(v128.const i32x4 ${x} ${x} ${x} ${x})`;

/** 16-bit output mask of a flag pair: lane bits b0, b1 go to bits `shift` and `shift` + 4 (the same output of the next block). */
const maskBits = (v, shift) =>
  `(i32.shl (i32.or (i32.and (local.tee $bm (i64x2.bitmask ${v})) (i32.const 1)) (i32.shl (i32.and (local.get $bm) (i32.const 2)) (i32.const 3))) (i32.const ${shift}))`;

/**
 * Inline code (helpers inlined by hand: wasm calls with multi-value results cost more than they save here) for
 * Box-Muller on half h (lanes 2h, 2h + 1, i.e. blocks 2h, 2h + 1 of the group) of Philox word pair P (0: words 0, 1
 * -> outputs 0, 1 of a block; 1: words 2, 3 -> outputs 2, 3). Its locals carry the suffix `x`. It stores its 4
 * outputs and ORs the bits of the flagged ones into $mask.
 */
function boxMuller(x, ur, uth, P, h) {
  const names = ['u', 'bits', 'hx', 'k', 't', 'f', 's', 'dk', 'z', 'w', 'R', 'r', 'th', 'kf', 'y', 'S', 'C', 'hz',
    'swap', 'c', 'sn', 'wc', 'ws', 'fc', 'fs'];
  const locals = names.map((n) => `(local $${n}${x} v128)`);
  const g = (n) => `(local.get $${n}${x})`;
  const set = (n, e) => `(local.set $${n}${x} ${e})`;
  const guard = (w, trig) => `(v128.or
      (f64x2.lt (v128.and ${trig} ${i64c('0x7fffffffffffffff')}) ${f64c('6.103515625e-05')})
      (i64x2.extend_low_i32x4_s (i32x4.ne
        (f32x4.demote_f64x2_zero (f64x2.mul ${w} ${f64c('1.0000000000009095')}))
        (f32x4.demote_f64x2_zero (f64x2.mul ${w} ${f64c('0.9999999999990905')})))))`;
  const code = `
      ;; u = (u32 + 0.5) 2^-32; log(u) by fdlibm e_log.c: u = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)), s = f / (2 + f)
      ${set('u', `(f64x2.mul (f64x2.add (f64x2.convert_low_i32x4_u ${ur}) ${f64c(0.5)}) ${f64c('2.3283064365386963e-10')})`)}
      ${set('bits', g('u'))}
      ${set('hx', `(i64x2.shr_u ${g('bits')} (i32.const 32))`)}
      ${set('k', `(i64x2.sub (i64x2.shr_u ${g('hx')} (i32.const 20)) ${i64c(1023)})`)}
      ${set('hx', `(v128.and ${g('hx')} ${i64c(0x000fffff)})`)}
      ${set('t', `(v128.and (i64x2.add ${g('hx')} ${i64c(0x95f64)}) ${i64c(0x100000)})`)}
      ${set('bits', `(v128.or (v128.and ${g('bits')} ${i64c(0xffffffff)})
        (i64x2.shl (v128.or ${g('hx')} (v128.xor ${g('t')} ${i64c(0x3ff00000)})) (i32.const 32)))`)}
      ${set('k', `(i64x2.add ${g('k')} (i64x2.shr_u ${g('t')} (i32.const 20)))`)}
      ${set('f', `(f64x2.sub ${g('bits')} ${f64c(1)})`)}
      ${set('s', `(f64x2.div ${g('f')} (f64x2.add ${f64c(2)} ${g('f')}))`)}
      ${set('dk', `(f64x2.convert_low_i32x4_s (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 ${g('k')} ${g('k')}))`)}
      ${set('z', `(f64x2.mul ${g('s')} ${g('s')})`)}
      ${set('w', `(f64x2.mul ${g('z')} ${g('z')})`)}
      ${set('R', `(f64x2.add
        (f64x2.mul ${g('z')} (f64x2.add ${f64c('6.666666666666735130e-01')} (f64x2.mul ${g('w')} (f64x2.add ${f64c('2.857142874366239149e-01')}
          (f64x2.mul ${g('w')} (f64x2.add ${f64c('1.818357216161805012e-01')} (f64x2.mul ${g('w')} ${f64c('1.479819860511658591e-01')})))))))
        (f64x2.mul ${g('w')} (f64x2.add ${f64c('3.999999999940941908e-01')} (f64x2.mul ${g('w')} (f64x2.add ${f64c('2.222219843214978396e-01')}
          (f64x2.mul ${g('w')} ${f64c('1.531383769920937332e-01')}))))))`)}
      ;; r = sqrt(-2 log u), log u = k ln2_hi - ((s (f - R) - k ln2_lo) - f): fdlibm's formula for most f (it switches to
      ;; an equivalent one near |f| ~ 0.2 for the last half ulp; the guard's tolerance is thousands of ulps)
      ${set('r', `(f64x2.sqrt (f64x2.mul ${f64c(-2)}
        (f64x2.sub (f64x2.mul ${g('dk')} ${f64c('6.93147180369123816490e-01')})
          (f64x2.sub (f64x2.sub (f64x2.mul ${g('s')} (f64x2.sub ${g('f')} ${g('R')}))
            (f64x2.mul ${g('dk')} ${f64c('1.90821492927058770002e-10')})) ${g('f')}))))`)}
      ;; th = (2 pi (u32 + 0.5)) 2^-32, in (0, 2 pi)
      ${set('th', `(f64x2.mul (f64x2.mul ${f64c('6.283185307179586')} (f64x2.add (f64x2.convert_low_i32x4_u ${uth}) ${f64c(0.5)})) ${f64c('2.3283064365386963e-10')})`)}
      ;; th = k pi/2 + y: fdlibm's pio2_1 has 33 bits, so k pio2_1 and th - k pio2_1 are exact for k <= 4; k in t's low bits
      ${set('t', `(f64x2.add (f64x2.mul ${g('th')} ${f64c('6.36619772367581382433e-01')}) ${f64c('6755399441055744.0')})`)}
      ${set('kf', `(f64x2.sub ${g('t')} ${f64c('6755399441055744.0')})`)}
      ${set('y', `(f64x2.sub (f64x2.sub ${g('th')} (f64x2.mul ${g('kf')} ${f64c('1.57079632673412561417e+00')}))
        (f64x2.mul ${g('kf')} ${f64c('6.07710050650619224932e-11')}))`)}
      ${set('z', `(f64x2.mul ${g('y')} ${g('y')})`)}
      ;; __kernel_sin(y, 0, 0) = y + (z y) (S1 + z (S2 + z (S3 + z (S4 + z (S5 + z S6)))))
      ${set('S', `(f64x2.add ${g('y')} (f64x2.mul (f64x2.mul ${g('z')} ${g('y')})
        (f64x2.add ${f64c('-1.66666666666666324348e-01')} (f64x2.mul ${g('z')}
          (f64x2.add ${f64c('8.33333333332248946124e-03')} (f64x2.mul ${g('z')} (f64x2.add ${f64c('-1.98412698298579493134e-04')}
            (f64x2.mul ${g('z')} (f64x2.add ${f64c('2.75573137070700676789e-06')} (f64x2.mul ${g('z')}
              (f64x2.add ${f64c('-2.50507602534068634195e-08')} (f64x2.mul ${g('z')} ${f64c('1.58969099521155010221e-10')}))))))))))))`)}
      ;; __kernel_cos(y, 0), FreeBSD form: w = 1 - z/2; w + (((1 - w) - z/2) + z r), r = z (C1 + z (C2 + ... + z C6))
      ${set('C', `(f64x2.mul ${g('z')} (f64x2.add ${f64c('4.16666666666666019037e-02')} (f64x2.mul ${g('z')}
        (f64x2.add ${f64c('-1.38888888888741095749e-03')} (f64x2.mul ${g('z')} (f64x2.add ${f64c('2.48015872894767294178e-05')}
          (f64x2.mul ${g('z')} (f64x2.add ${f64c('-2.75573143513906633035e-07')} (f64x2.mul ${g('z')}
            (f64x2.add ${f64c('2.08757232129817482790e-09')} (f64x2.mul ${g('z')} ${f64c('-1.13596475577881948265e-11')})))))))))))`)}
      ${set('hz', `(f64x2.mul ${f64c(0.5)} ${g('z')})`)}
      ${set('w', `(f64x2.sub ${f64c(1)} ${g('hz')})`)}
      ${set('C', `(f64x2.add ${g('w')} (f64x2.add (f64x2.sub (f64x2.sub ${f64c(1)} ${g('w')}) ${g('hz')}) (f64x2.mul ${g('z')} ${g('C')})))`)}
      ;; quadrant k: odd k swaps sin and cos; cos is negated for k mod 4 in {1, 2}, sin for {2, 3}
      ${set('swap', `(i64x2.neg (v128.and ${g('t')} ${i64c(1)}))`)}
      ${set('c', `(v128.xor (v128.bitselect ${g('S')} ${g('C')} ${g('swap')})
        (i64x2.shl (v128.and (i64x2.add ${g('t')} ${i64c(1)}) ${i64c(2)}) (i32.const 62)))`)}
      ${set('sn', `(v128.xor (v128.bitselect ${g('C')} ${g('S')} ${g('swap')}) (i64x2.shl (v128.and ${g('t')} ${i64c(2)}) (i32.const 62)))`)}
      ;; scale (r cos th), scale (r sin th), as sampleNormals and normalBatch evaluate them, and their flags
      ${set('wc', `(f64x2.mul $SCALE (f64x2.mul ${g('r')} ${g('c')}))`)}
      ${set('ws', `(f64x2.mul $SCALE (f64x2.mul ${g('r')} ${g('sn')}))`)}
      ${set('fc', guard(g('wc'), g('c')))}
      ${set('fs', guard(g('ws'), g('sn')))}
      ;; outputs 4 j + 2P (cos) and 4 j + 2P + 1 (sin) of the lanes' blocks j = 2h, 2h + 1: one 64-bit store each
      ${set('wc', `(i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (f32x4.demote_f64x2_zero ${g('wc')}) (f32x4.demote_f64x2_zero ${g('ws')}))`)}
      (v128.store64_lane offset=${32 * h + 8 * P} 0 (local.get $o) ${g('wc')})
      (v128.store64_lane offset=${32 * h + 8 * P + 16} 1 (local.get $o) ${g('wc')})
      (if (v128.any_true (v128.or ${g('fc')} ${g('fs')})) (then
        (local.set $mask (i32.or (local.get $mask) (i32.or ${maskBits(g('fc'), 8 * h + 2 * P)} ${maskBits(g('fs'), 8 * h + 2 * P + 1)})))))`.replaceAll('$SCALE', '(local.get $sc)');
  return { locals, code };
}

const mulhi = (a, b) =>
  `(i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (i64x2.extmul_low_i32x4_u ${a} ${b}) (i64x2.extmul_high_i32x4_u ${a} ${b}))`;

const bmA0 = boxMuller('A0', '(local.get $x0)', '(local.get $x1)', 0, 0);
const bmB0 = boxMuller('B0', '(local.get $x2)', '(local.get $x3)', 1, 0);
const bmA1 = boxMuller('A1', `(${HI_TO_LO} (local.get $x0) (local.get $x0))`, `(${HI_TO_LO} (local.get $x1) (local.get $x1))`, 0, 1);
const bmB1 = boxMuller('B1', `(${HI_TO_LO} (local.get $x2) (local.get $x2))`, `(${HI_TO_LO} (local.get $x3) (local.get $x3))`, 1, 1);
const M0 = i32c(0xd2511f53), M1 = i32c(0xcd9e8d57);
const normalsFunc = `
  ;; out[4 b + p] for blocks b in [block0, block0 + nblocks), nblocks a multiple of 4; key (seed, index); counter
  ;; (block, stream, 0, 0). Flag records (group, mask) go to $flags; returns their count.
  (func (export "normals") (param $seed i32) (param $index i32) (param $stream i32) (param $block0 i32) (param $nblocks i32)
      (param $scale f64) (param $o i32) (param $flags i32) (result i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $k0 i32) (local $k1 i32)
    (local $lo0 v128) (local $hi0 v128) (local $lo1 v128) (local $hi1 v128) (local $r i32) (local $g i32) (local $ng i32)
    (local $sc v128) (local $nf i32) (local $bm i32) (local $mask i32)
    ${[bmA0, bmB0, bmA1, bmB1].map((b) => b.locals.join(' ')).join('\n    ')}
    (local.set $sc (f64x2.splat (local.get $scale)))
    (local.set $ng (i32.shr_u (local.get $nblocks) (i32.const 2)))
    (block $done (loop $G
      (br_if $done (i32.ge_u (local.get $g) (local.get $ng)))
      ;; Philox4x32-10, lane j = block block0 + 4 g + j
      (local.set $x0 (i32x4.add (i32x4.splat (i32.add (local.get $block0) (i32.shl (local.get $g) (i32.const 2)))) (v128.const i32x4 0 1 2 3)))
      (local.set $x1 (i32x4.splat (local.get $stream)))
      (local.set $x2 (v128.const i32x4 0 0 0 0))
      (local.set $x3 (v128.const i32x4 0 0 0 0))
      (local.set $k0 (local.get $seed))
      (local.set $k1 (local.get $index))
      (local.set $r (i32.const 0))
      (loop $R
        (local.set $lo0 (i32x4.mul (local.get $x0) ${M0}))
        (local.set $hi0 ${mulhi('(local.get $x0)', M0)})
        (local.set $lo1 (i32x4.mul (local.get $x2) ${M1}))
        (local.set $hi1 ${mulhi('(local.get $x2)', M1)})
        (local.set $x0 (v128.xor (v128.xor (local.get $hi1) (local.get $x1)) (i32x4.splat (local.get $k0))))
        (local.set $x1 (local.get $lo1))
        (local.set $x2 (v128.xor (v128.xor (local.get $hi0) (local.get $x3)) (i32x4.splat (local.get $k1))))
        (local.set $x3 (local.get $lo0))
        (local.set $k0 (i32.add (local.get $k0) (i32.const 0x9e3779b9)))
        (local.set $k1 (i32.add (local.get $k1) (i32.const 0xbb67ae85)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $R (i32.lt_u (local.get $r) (i32.const 10))))
      ;; pair A = (x0, x1) -> outputs 0, 1 of each block; pair B = (x2, x3) -> outputs 2, 3. Half h = lanes 2h, 2h + 1.
      ${[bmA0, bmB0, bmA1, bmB1].map((b) => b.code).join('\n')}
      (if (local.get $mask) (then
          (i32.store (local.get $flags) (local.get $g))
          (i32.store offset=4 (local.get $flags) (local.get $mask))
          (local.set $flags (i32.add (local.get $flags) (i32.const 8)))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1)))
          (local.set $mask (i32.const 0))))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $G)))
    (local.get $nf))`;

const wat = `(module
  (import "env" "mem" (memory 1))
  ${[1, 2, 3, 4, 5, 6].map((k) => linComb(k)).join('\n')}
  ${[1, 2, 3, 4, 5, 6].map((k) => linComb(k, true)).join('\n')}
  ${scaledDiff}
  ${nonFinite}
  ${normalsFunc}
)`;

const wabt = await wabtInit();
const mod = wabt.parseWat('kernels.wat', wat, { simd: true, multi_value: true });
mod.validate();
const { buffer } = mod.toBinary({});
mod.destroy();
// `--wat FILE` also writes the WAT text, to read or to diff.
const watAt = process.argv.indexOf('--wat');
if (watAt >= 0) fs.writeFileSync(process.argv[watAt + 1] ?? 'kernels.wat', wat);
const b64 = Buffer.from(buffer).toString('base64');
const lines = b64.match(/.{1,112}/g);
fs.writeFileSync(
  outFile,
  `// GENERATED by scripts/build-kernels.mjs (WAT source there, assembled with wabt): do not edit. Regenerate with
//   node scripts/build-kernels.mjs
// WebAssembly SIMD kernels for src/core/kernels.ts, ${buffer.length} bytes, base64.
export const KERNELS_WASM_BASE64 =
${lines.map((l) => `  '${l}'`).join(' +\n')};
`,
);
process.stdout.write(`wrote ${path.relative(root, outFile)} (${buffer.length} bytes of wasm)\n`);
