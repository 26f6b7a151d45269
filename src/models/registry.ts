// Model specs -> Denoisers: `gmm:FILE.json`, `data:NAME[:N][@CLASS]`, `onnx:FILE.onnx`, with class conditions and
// classifier-free guidance (conditional.ts, guidance.ts). Node-only (reads files).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mlpCards, modelsDir } from '../mlem/levels.js';
import type { Schedule } from '../schedules/schedule.js';
import type { PredictionType } from './adapters.js';
import { classCounts, createClassConditionalDenoiser, describeConditions, NULL_CONDITION, resolveCondition, type ConditionalDenoiser } from './conditional.js';
import { EMBEDDED_DATASETS, checkCount, embeddedClassNames, loadEmbeddedDataset } from './data.js';
import type { Denoiser } from './denoiser.js';
import { createEmpiricalDenoiser, type EmpiricalBackend } from './empirical-onnx.js';
import { createGmmDenoiser } from './gmm.js';
import { guideConditional, resolveGuidance, type ResolvedGuidance } from './guidance.js';
import { createOnnxConditionalDenoiser, createOnnxDenoiser } from './onnx-denoiser.js';

export type ModelKind = 'gmm' | 'data' | 'onnx';

/**
 * The schedule a model is sampled with unless the user says otherwise: exact models use sigma only ('edm');
 * ONNX networks are assumed to be diffusers-style 'vp-discrete' (linear betas 1e-4..0.02, 1000 training steps),
 * or 'edm' when their prediction type is 'edm'.
 */
export type DefaultSchedule = 'edm' | 'vp-discrete';

export interface ModelInfo {
  name: string;
  kind: ModelKind;
  /** Number of stored images (data) or mixture components (gmm). */
  count?: number;
  /** Shape of one sample. */
  shape: number[];
  defaultSchedule: DefaultSchedule;
  /** Class labels of the stored images (data:, all first N images) or nothing. */
  labels?: Int32Array;
  /** Names of the conditions: data: the classes; onnx: with a conditional cond, '0'..'K-1' (rows of cond). */
  classNames?: string[];
  /** The condition(s) the denoiser samples: one class for every sample, or one per sample; absent: unconditional. */
  condition?: number | Int32Array;
  /** Classifier-free guidance of the denoiser: w (Ho & Salimans) and s = 1 + w (diffusers' guidance_scale). */
  guidance?: ResolvedGuidance;
  /** Network evaluations per denoiser call (2 with guidance); NFE counts calls. */
  evaluationsPerCall: number;
}

export interface LoadModelOptions {
  /** Schedule the run uses (exact models accept any; kept for callers that check compatibility). */
  schedule?: Schedule;
  /** ONNX models: what the network predicts (default 'epsilon'). */
  prediction?: PredictionType;
  threads?: number;
  /** data: models: 'onnx' (default) or 'ts'. */
  backend?: EmpiricalBackend;
  /**
   * ONNX models: encoder_hidden_states, one condition [seq, dim] or [1, seq, dim], or K conditions [K, seq, dim]
   * (condition c = row c; which row each sample gets: `classes`, default one row per sample when K > 1).
   */
  cond?: { data: Float32Array; shape: number[] };
  /** ONNX models: the unconditional encoder_hidden_states (e.g. the empty prompt's), [seq, dim] or [1, seq, dim]. */
  uncond?: { data: Float32Array; shape: number[] };
  /**
   * The condition(s) to sample: a class (index or name; data: models, the same as `@CLASS` in the spec; onnx: a row
   * of cond) for every sample, or one per sample (then every batch must have exactly that many samples).
   */
  classes?: number | string | ReadonlyArray<number | string> | Int32Array;
  /** Classifier-free guidance weight w (Ho & Salimans 2022, eq. 6): eps = (1 + w) eps_c - w eps_u; 0 = none. */
  guidance?: number;
  /** Classifier-free guidance in diffusers' convention, guidance_scale s = 1 + w. Not with `guidance`. */
  guidanceScale?: number;
  /** ONNX models whose sample shape is symbolic: the shape of one sample. */
  sampleShape?: number[];
}

export interface LoadedModel {
  /** Ready to sample: conditioned on the class(es), guided when guidance was asked for. Dispose it when done. */
  denoiser: Denoiser;
  info: ModelInfo;
  /**
   * Conditional models (every data: model; onnx: with uncond or several cond rows): the family, guided when guidance
   * was asked for, for per-chunk or per-sample conditions (withCondition). Shares the denoiser's resources.
   */
  family?: ConditionalDenoiser;
}

const VALID_FORMS =
  'gmm:FILE.json (or gmm:gmm-2d, gmm:gmm-64d), data:NAME[:N][@CLASS] with NAME one of digits, fashion, emoji ' +
  '(CLASS: an index or a class name, e.g. data:digits@3, data:fashion@Trouser, data:emoji@Flags), onnx:FILE.onnx';

/** Example mixtures shipped with the package (examples/*.json). */
const GMM_EXAMPLES = ['gmm-2d', 'gmm-64d'];

function examplesDir(): string {
  return fileURLToPath(new URL('../../examples/', import.meta.url));
}

function resolveGmmFile(file: string): string {
  if (existsSync(file)) return file;
  const base = file.replace(/\.json$/, '');
  if (GMM_EXAMPLES.includes(base)) return examplesDir() + base + '.json';
  throw new Error(`registry.ts: mixture file '${file}' not found (shipped examples: ${GMM_EXAMPLES.join(', ')})`);
}

/**
 * `mlp:DATA:W`: one of the shipped trained MLP denoisers (models/mlp-DATA-wW.onnx, EDM-preconditioned; trained by
 * scripts/train-mlp.ts) as an ordinary model, so every solver and IIA run on it as on the exact models.
 */
async function loadMlp(spec: string, rest: string, opts: LoadModelOptions): Promise<LoadedModel> {
  const m = /^([a-z]+):w?(\d+)$/.exec(rest);
  const cards = m ? mlpCards(m[1]) : [];
  const card = m ? cards.find((c) => c.architecture.hidden[0] === Number(m[2])) : undefined;
  if (!m || !card) {
    const known = ['digits', 'fashion'].flatMap((d) => mlpCards(d).map((c) => `mlp:${d}:${c.architecture.hidden[0]}`));
    throw new Error(`registry.ts: model spec '${spec}': expected mlp:DATA:WIDTH, one of ${known.join(', ')}`);
  }
  const denoiser = await createOnnxDenoiser(join(modelsDir(), card.file), { prediction: 'edm', sigmaData: card.load.sigmaData, threads: opts.threads, name: spec });
  return { denoiser, info: { name: spec, kind: 'onnx', shape: denoiser.sampleShape, defaultSchedule: 'edm', evaluationsPerCall: 1 } };
}

export async function loadModel(spec: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const colon = spec.indexOf(':');
  const prefix = colon < 0 ? '' : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (!rest && (prefix === 'gmm' || prefix === 'data' || prefix === 'onnx')) {
    throw new Error(`registry.ts: model spec '${spec}' is missing its argument; valid forms: ${VALID_FORMS}`);
  }
  if ((prefix === 'gmm' || prefix === 'data') && (opts.cond || opts.uncond)) {
    throw new Error(
      `registry.ts: model '${spec}' takes no ${opts.cond ? 'cond' : 'uncond'} (only onnx: models with encoder_hidden_states do; ` +
        'the condition of a data: model is its class, data:NAME@CLASS)',
    );
  }
  const guidance =
    opts.guidance !== undefined || opts.guidanceScale !== undefined
      ? resolveGuidance({ w: opts.guidance, guidanceScale: opts.guidanceScale }, `registry.ts: model '${spec}'`)
      : undefined;
  switch (prefix) {
    case 'gmm': {
      if (guidance || opts.classes !== undefined) {
        throw new Error(`registry.ts: model '${spec}' is not conditional, so it takes no ${guidance ? 'guidance' : 'classes'}; conditional models: data:NAME@CLASS, onnx: with cond/uncond`);
      }
      const file = resolveGmmFile(rest);
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`registry.ts: cannot read mixture file '${file}' as JSON: ${(e as Error).message}`);
      }
      const gmm = createGmmDenoiser(json, file, spec);
      return { denoiser: gmm, info: { name: spec, kind: 'gmm', count: gmm.K, shape: gmm.sampleShape, defaultSchedule: 'edm', evaluationsPerCall: 1 } };
    }
    case 'data':
      return loadData(spec, rest, opts, guidance);
    case 'onnx':
      return loadOnnx(spec, rest, opts, guidance);
    case 'mlp':
      return loadMlp(spec, rest, opts);
    default:
      throw new Error(`registry.ts: model spec '${spec}' has no valid prefix; valid forms: ${VALID_FORMS}`);
  }
}

/** Resolve `classes` (or `@CLASS`) to one condition or one per sample. */
function resolveClasses(
  classes: number | string | ReadonlyArray<number | string> | Int32Array,
  names: readonly string[],
  hasUnconditional: boolean,
  where: string,
): number | Int32Array {
  if (typeof classes === 'number' || typeof classes === 'string') return resolveCondition(classes, names, hasUnconditional, where);
  const list = Array.from(classes as ArrayLike<number | string>);
  if (list.length === 0) throw new Error(`${where}: classes is empty; expected a class or one per sample`);
  return Int32Array.from(list, (c) => resolveCondition(c, names, hasUnconditional, where));
}

/** The family's denoiser for `condition` (guided if asked), owning the family's resources. */
async function conditioned(
  family: ConditionalDenoiser,
  condition: number | Int32Array,
  opts: LoadModelOptions,
): Promise<{ denoiser: Denoiser; family: ConditionalDenoiser }> {
  const guided = opts.guidance !== undefined || opts.guidanceScale !== undefined;
  const used = guided ? guideConditional(family, { w: opts.guidance, guidanceScale: opts.guidanceScale }) : family;
  const view = used.withCondition(condition);
  // Build the members this denoiser uses now, so load errors surface here and not in the first step's timing.
  const members = new Set(typeof condition === 'number' ? [condition] : condition);
  if (guided) members.add(NULL_CONDITION);
  await family.prepare?.([...members]);
  return { denoiser: { ...view, dispose: family.dispose ? () => family.dispose!() : undefined }, family: used };
}

async function loadData(spec: string, rest: string, opts: LoadModelOptions, guidance: ResolvedGuidance | undefined): Promise<LoadedModel> {
  const at = rest.indexOf('@');
  const classText = at < 0 ? undefined : rest.slice(at + 1);
  const [name, nText, ...more] = (at < 0 ? rest : rest.slice(0, at)).split(':');
  if (more.length) throw new Error(`registry.ts: model spec '${spec}' has too many parts; expected data:NAME[:N][@CLASS]`);
  let n: number | undefined;
  if (nText !== undefined) {
    n = Number(nText);
    if (nText.trim() === '' || !Number.isInteger(n)) {
      const info = EMBEDDED_DATASETS.find((d) => d.name === name);
      throw new Error(`registry.ts: N in '${spec}' must be an integer${info ? ` in 1..${info.count}` : ''}, got '${nText}'`);
    }
  }
  checkCount(name, n);
  const ds = loadEmbeddedDataset(name, n);
  const where = `registry.ts: model '${spec}'`;
  if (classText !== undefined && classText.trim() === '') {
    throw new Error(`${where}: '@' needs a class (data:${name}@CLASS); valid classes: ${describeConditions(ds.classNames, false)}`);
  }
  if (classText !== undefined && opts.classes !== undefined) {
    throw new Error(`${where}: the class is given twice (@${classText} and classes); give it once`);
  }
  const classes = classText ?? opts.classes;
  if (guidance && classes === undefined) {
    throw new Error(`${where}: classifier-free guidance needs a class to guide towards: data:${name}@CLASS or classes; valid classes: ${describeConditions(ds.classNames, false)}`);
  }
  const backend = opts.backend;
  const family = createClassConditionalDenoiser(ds.images, ds.labels, ds.classNames, ds.shape, {
    // The unconditional member keeps the spec as its name (the same model as before conditioning existed).
    name: classText === undefined ? spec : spec.slice(0, spec.indexOf('@')),
    factory: (images, shape, nm) => createEmpiricalDenoiser(images, shape, { backend, threads: opts.threads, name: nm }),
  });
  const condition = classes === undefined ? NULL_CONDITION : resolveClasses(classes, ds.classNames, true, where);
  const counts = classCounts(ds.labels, ds.classNames.length);
  // A class with no images among the first N is an error now, not at the first model call.
  for (const c of typeof condition === 'number' ? [condition] : new Set(condition)) {
    if (c !== NULL_CONDITION && counts[c] === 0) {
      throw new Error(`${where}: class ${c} (${ds.classNames[c]}) has no images among the first ${ds.count} of data:${name}; use a larger N or another class`);
    }
  }
  const { denoiser, family: fam } = await conditioned(family, condition, opts).catch(async (e: unknown) => {
    await family.dispose?.();
    throw e;
  });
  const count = typeof condition === 'number' && condition !== NULL_CONDITION ? counts[condition] : ds.count;
  // Unconditional, unguided: the plain model under its spec name.
  const named = condition === NULL_CONDITION && !guidance ? { ...denoiser, name: spec } : denoiser;
  return {
    denoiser: named,
    family: fam,
    info: {
      name: spec,
      kind: 'data',
      count,
      shape: [...ds.shape],
      defaultSchedule: 'edm',
      labels: ds.labels,
      classNames: [...ds.classNames],
      ...(condition !== NULL_CONDITION ? { condition } : {}),
      ...(guidance ? { guidance } : {}),
      evaluationsPerCall: denoiser.evaluationsPerCall ?? 1,
    },
  };
}

async function loadOnnx(spec: string, file: string, opts: LoadModelOptions, guidance: ResolvedGuidance | undefined): Promise<LoadedModel> {
  const where = `registry.ts: model '${spec}'`;
  const defaultSchedule: DefaultSchedule = opts.prediction === 'edm' ? 'edm' : 'vp-discrete';
  const condRows = opts.cond ? (opts.cond.shape.length >= 3 ? opts.cond.shape[0] : 1) : 0;
  const conditional = guidance !== undefined || opts.uncond !== undefined || opts.classes !== undefined || condRows > 1;
  if (!conditional) {
    const denoiser = await createOnnxDenoiser(file, { prediction: opts.prediction, threads: opts.threads, cond: opts.cond, sampleShape: opts.sampleShape, name: spec });
    return { denoiser, info: { name: spec, kind: 'onnx', shape: denoiser.sampleShape, defaultSchedule, evaluationsPerCall: 1 } };
  }
  if (!opts.cond) {
    throw new Error(`${where}: ${guidance ? 'guidance' : opts.uncond ? 'uncond' : 'classes'} needs cond, the encoder_hidden_states of the condition(s) ([seq, dim], or [K, seq, dim] for K conditions)`);
  }
  if (guidance && !opts.uncond) {
    throw new Error(`${where}: classifier-free guidance needs uncond, the unconditional encoder_hidden_states (e.g. the empty-prompt embedding), [seq, dim] or [1, seq, dim]`);
  }
  const family = await createOnnxConditionalDenoiser(file, {
    prediction: opts.prediction,
    threads: opts.threads,
    cond: opts.cond,
    uncond: opts.uncond,
    sampleShape: opts.sampleShape,
    name: spec,
  });
  try {
    const K = family.conditionNames.length;
    // Default: one condition for all (K = 1), else row i for sample i (a batch of exactly K samples).
    const condition =
      opts.classes !== undefined
        ? resolveClasses(opts.classes, family.conditionNames, family.hasUnconditional, `${where} (classes: rows of cond)`)
        : K === 1
          ? 0
          : Int32Array.from({ length: K }, (_, i) => i);
    const { denoiser, family: fam } = await conditioned(family, condition, opts);
    return {
      denoiser,
      family: fam,
      info: {
        name: spec,
        kind: 'onnx',
        shape: denoiser.sampleShape,
        defaultSchedule,
        classNames: [...family.conditionNames],
        condition,
        ...(guidance ? { guidance } : {}),
        evaluationsPerCall: denoiser.evaluationsPerCall ?? 1,
      },
    };
  } catch (e) {
    await family.dispose?.();
    throw e;
  }
}

export interface EmbeddedModelEntry {
  name: string;
  kind: ModelKind;
  count: number;
  shape: number[];
  description: string;
  /** data: models: the class names, index = class (use as data:NAME@CLASS with the index or the name). */
  classes?: string[];
}

/** Models that need no file from the user, for `iia models`. */
export function listEmbeddedModels(): EmbeddedModelEntry[] {
  const data = EMBEDDED_DATASETS.map((d) => ({
    name: `data:${d.name}`,
    kind: 'data' as const,
    count: d.count,
    shape: [...d.shape],
    description: d.description,
    classes: embeddedClassNames(d.name),
  }));
  const gmms: EmbeddedModelEntry[] = [
    { name: 'gmm:gmm-2d', kind: 'gmm', count: 8, shape: [2], description: 'isotropic Gaussian mixture, 8 modes on a circle in 2-D (examples/gmm-2d.json)' },
    { name: 'gmm:gmm-64d', kind: 'gmm', count: 10, shape: [1, 8, 8], description: 'isotropic Gaussian mixture, 10 modes in 64-D (examples/gmm-64d.json)' },
  ];
  return [...data, ...gmms];
}
