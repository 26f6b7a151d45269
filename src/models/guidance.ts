// Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6):
//   eps_guided = (1 + w) eps(y, c) - w eps(y, null) = eps_u + s (eps_c - eps_u),  s = 1 + w.
// Two names for one knob: `w` is the paper's guidance weight (w = 0: the conditional model); `guidanceScale` is
// diffusers' guidance_scale s (s = 1: the conditional model; Stable Diffusion's default 7.5 is w = 6.5). The IIA
// paper (ICLR 2024, Sec. 3.3) uses Stable Diffusion V2 and does not restate the formula, so its runs are in s.
// A guided call costs two network evaluations per sample (evaluationsPerCall = 2); run through one family call on
// a doubled batch, so an ONNX network sees one batch of 2B and an exact model one call per class. Browser-safe.
import type { Batch } from '../core/batch.js';
import type { GridPoint } from '../schedules/schedule.js';
import { conditionalDenoiser, NULL_CONDITION, type ConditionalDenoiser } from './conditional.js';
import type { Denoiser, Prediction } from './denoiser.js';

export interface GuidanceOptions {
  /** Guidance weight w of Ho & Salimans (2022, eq. 6); 0 = no guidance (the conditional model). */
  w?: number;
  /** diffusers' guidance_scale s = 1 + w; 1 = no guidance. Give w or guidanceScale, not both. */
  guidanceScale?: number;
}

/** Both forms of a guidance setting, each exactly as given (the other one derived): s = 1 + w. */
export interface ResolvedGuidance {
  w: number;
  s: number;
}

/** Check a guidance setting (exactly one of w and guidanceScale, finite) and return both forms. */
export function resolveGuidance(opts: GuidanceOptions, where = 'guidance.ts'): ResolvedGuidance {
  const { w, guidanceScale } = opts;
  if (w !== undefined && guidanceScale !== undefined) {
    throw new Error(`${where}: give the guidance weight w or guidanceScale (s = 1 + w), not both (got w = ${w}, guidanceScale = ${guidanceScale})`);
  }
  if (w === undefined && guidanceScale === undefined) throw new Error(`${where}: guidance needs w (Ho & Salimans) or guidanceScale (diffusers)`);
  const given = guidanceScale !== undefined ? `guidanceScale = ${guidanceScale}` : `w = ${w}`;
  const value = guidanceScale ?? w;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${where}: ${given} must be a finite number`);
  return guidanceScale !== undefined ? { s: guidanceScale, w: guidanceScale - 1 } : { w: w!, s: 1 + w! };
}

/** The diffusers scale s = 1 + w of a guidance setting. */
export function guidanceScaleOf(opts: GuidanceOptions, where = 'guidance.ts'): number {
  return resolveGuidance(opts, where).s;
}

/**
 * Combine a conditional and an unconditional prediction with weight w (scale s = 1 + w): eps = (1 + w) eps_c - w eps_u
 * (Ho & Salimans 2022, eq. 6). x0 is combined with the same weights, which equals recomputing it
 * from the guided eps, x0 = y - sigma * eps (Karras et al. 2022, eq. 4, affine in eps), and stays defined at sigma 0.
 * Float64 per element, in this form so that w = 0 gives the conditional prediction back bit for bit (w = -1: the
 * unconditional one).
 */
export function combineGuidance(cond: Prediction, uncond: Prediction, g: ResolvedGuidance): Prediction {
  const { s, w } = g;
  const n = cond.x0.length;
  if (uncond.x0.length !== n) {
    throw new Error(`guidance.ts: conditional and unconditional predictions differ in length (${n} vs ${uncond.x0.length})`);
  }
  const x0 = new Float32Array(n);
  for (let i = 0; i < n; i++) x0[i] = s * cond.x0[i] - w * uncond.x0[i];
  // eps on first use only (many solvers read x0 alone; exact models compute their eps lazily too).
  let eps: Float32Array | undefined;
  return {
    x0,
    get eps(): Float32Array {
      if (!eps) {
        const ec = cond.eps, eu = uncond.eps;
        if (ec.length !== n || eu.length !== n) throw new Error(`guidance.ts: eps of length ${ec.length} / ${eu.length}, expected ${n}`);
        eps = new Float32Array(n);
        for (let i = 0; i < n; i++) eps[i] = s * ec[i] - w * eu[i];
      }
      return eps;
    },
  };
}

/**
 * The guided family: member c predicts eps_u + s (eps(., c) - eps_u); member -1 stays the unconditional model
 * (guiding the null condition changes nothing). Needs a family with an unconditional member.
 */
export function guideConditional(family: ConditionalDenoiser, opts: GuidanceOptions): ConditionalDenoiser {
  const g = resolveGuidance(opts);
  if (!family.hasUnconditional) {
    throw new Error(
      `guidance.ts: classifier-free guidance needs the unconditional prediction, and model '${family.name}' has none ` +
        '(ONNX models: give uncond, the unconditional encoder_hidden_states, e.g. the empty-prompt embedding)',
    );
  }
  const label = opts.guidanceScale !== undefined ? `guidanceScale=${g.s}` : `w=${g.w}`;
  const inner = family.evaluationsPerCall ?? 1;
  return conditionalDenoiser({
    sampleShape: family.sampleShape,
    name: `${family.name}+cfg(${label})`,
    conditionNames: family.conditionNames,
    hasUnconditional: true,
    evaluationsPerCall: 2 * inner,
    async predictConditional(y: Batch, at: GridPoint, conditions: Int32Array): Promise<Prediction> {
      const rows = y.shape[0];
      // One family call on [y; y] with conditions [c; null]: both halves in one network batch.
      const doubled = new Float32Array(2 * y.data.length);
      doubled.set(y.data);
      doubled.set(y.data, y.data.length);
      const conds = new Int32Array(2 * rows);
      conds.set(conditions);
      conds.fill(NULL_CONDITION, rows);
      const both = await family.predictConditional({ data: doubled, shape: [2 * rows, ...y.shape.slice(1)] }, at, conds);
      const half = y.data.length;
      const cond = { x0: both.x0.subarray(0, half), get eps() { return both.eps.subarray(0, half); } };
      const uncond = { x0: both.x0.subarray(half), get eps() { return both.eps.subarray(half); } };
      return combineGuidance(cond, uncond, g);
    },
    prepare: family.prepare ? (conditions) => family.prepare!([...conditions, NULL_CONDITION]) : undefined,
    dispose: family.dispose ? () => family.dispose!() : undefined,
  });
}

/** A guided Denoiser for condition(s) `condition` (one for all samples, or one per sample). */
export function guidedDenoiser(family: ConditionalDenoiser, condition: number | ArrayLike<number>, opts: GuidanceOptions): Denoiser {
  return guideConditional(family, opts).withCondition(condition);
}
