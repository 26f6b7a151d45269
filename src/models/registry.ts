// Model specs -> Denoisers: `gmm:FILE.json`, `data:NAME[:N]`, `onnx:FILE.onnx`. Node-only (reads files).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Schedule } from '../schedules/schedule.js';
import type { PredictionType } from './adapters.js';
import { EMBEDDED_DATASETS, checkCount, loadEmbeddedDataset } from './data.js';
import type { Denoiser } from './denoiser.js';
import { createEmpiricalDenoiser, type EmpiricalBackend } from './empirical-onnx.js';
import { createGmmDenoiser } from './gmm.js';
import { createOnnxDenoiser } from './onnx-denoiser.js';

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
  /** Class labels of the stored images (data:) or nothing. */
  labels?: Int32Array;
  classNames?: string[];
}

export interface LoadModelOptions {
  /** Schedule the run uses (exact models accept any; kept for callers that check compatibility). */
  schedule?: Schedule;
  /** ONNX models: what the network predicts (default 'epsilon'). */
  prediction?: PredictionType;
  threads?: number;
  /** data: models: 'onnx' (default) or 'ts'. */
  backend?: EmpiricalBackend;
  /** ONNX models: encoder_hidden_states, [seq, dim] or [1, seq, dim]. */
  cond?: { data: Float32Array; shape: number[] };
  /** ONNX models whose sample shape is symbolic: the shape of one sample. */
  sampleShape?: number[];
}

export interface LoadedModel {
  denoiser: Denoiser;
  info: ModelInfo;
}

const VALID_FORMS = 'gmm:FILE.json (or gmm:gmm-2d, gmm:gmm-64d), data:NAME[:N] with NAME one of digits, fashion, emoji, onnx:FILE.onnx';

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

export async function loadModel(spec: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const colon = spec.indexOf(':');
  const prefix = colon < 0 ? '' : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (!rest && (prefix === 'gmm' || prefix === 'data' || prefix === 'onnx')) {
    throw new Error(`registry.ts: model spec '${spec}' is missing its argument; valid forms: ${VALID_FORMS}`);
  }
  if ((prefix === 'gmm' || prefix === 'data') && opts.cond) {
    throw new Error(`registry.ts: model '${spec}' takes no cond (only onnx: models with encoder_hidden_states do)`);
  }
  switch (prefix) {
    case 'gmm': {
      const file = resolveGmmFile(rest);
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new Error(`registry.ts: cannot read mixture file '${file}' as JSON: ${(e as Error).message}`);
      }
      const gmm = createGmmDenoiser(json, file, spec);
      return { denoiser: gmm, info: { name: spec, kind: 'gmm', count: gmm.K, shape: gmm.sampleShape, defaultSchedule: 'edm' } };
    }
    case 'data': {
      const [name, nText, ...more] = rest.split(':');
      if (more.length) throw new Error(`registry.ts: model spec '${spec}' has too many parts; expected data:NAME[:N]`);
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
      const denoiser = await createEmpiricalDenoiser(ds.images, ds.shape, { backend: opts.backend, threads: opts.threads, name: spec });
      return {
        denoiser,
        info: { name: spec, kind: 'data', count: ds.count, shape: [...ds.shape], defaultSchedule: 'edm', labels: ds.labels, classNames: ds.classNames },
      };
    }
    case 'onnx': {
      const denoiser = await createOnnxDenoiser(rest, {
        prediction: opts.prediction,
        threads: opts.threads,
        cond: opts.cond,
        sampleShape: opts.sampleShape,
        name: spec,
      });
      const defaultSchedule: DefaultSchedule = opts.prediction === 'edm' ? 'edm' : 'vp-discrete';
      return { denoiser, info: { name: spec, kind: 'onnx', shape: denoiser.sampleShape, defaultSchedule } };
    }
    default:
      throw new Error(`registry.ts: model spec '${spec}' has no valid prefix; valid forms: ${VALID_FORMS}`);
  }
}

export interface EmbeddedModelEntry {
  name: string;
  kind: ModelKind;
  count: number;
  shape: number[];
  description: string;
}

/** Models that need no file from the user, for `iia models`. */
export function listEmbeddedModels(): EmbeddedModelEntry[] {
  const data = EMBEDDED_DATASETS.map((d) => ({ name: `data:${d.name}`, kind: 'data' as const, count: d.count, shape: [...d.shape], description: d.description }));
  const gmms: EmbeddedModelEntry[] = [
    { name: 'gmm:gmm-2d', kind: 'gmm', count: 8, shape: [2], description: 'isotropic Gaussian mixture, 8 modes on a circle in 2-D (examples/gmm-2d.json)' },
    { name: 'gmm:gmm-64d', kind: 'gmm', count: 10, shape: [1, 8, 8], description: 'isotropic Gaussian mixture, 10 modes in 64-D (examples/gmm-64d.json)' },
  ];
  return [...data, ...gmms];
}
