// diffusers parity for UniPCMultistepScheduler, DEISMultistepScheduler and PNDMScheduler: every full-loop test of
// diffusers' tests/schedulers/test_scheduler_{unipc,deis,pndm}.py that has expected numbers, run through our
// converters, solvers and the sampling driver. The dummy network is diffusers' `model(sample, t) = sample * t / (t + 1)`
// (sample = the diffusers sample x = alpha * y, t = the scheduler's timestep), wrapped into a Denoiser by the
// parameterisation adapter; dummy_sample_deter is arange(768).reshape(C=3, H=8, W=8, B=4) / 768 permuted to
// (B, C, H, W), i.e. value (c*256 + h*32 + w*4 + b) / 768 (768 = number of elements; this reproduces the numbers).
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/core/batch.js';
import { deisMultistepConverter } from '../src/diffusers/deis.js';
import { planFromSchedulerConfig } from '../src/diffusers/index.js';
import type { SamplingPlan } from '../src/diffusers/plan.js';
import { pndmConverter } from '../src/diffusers/pndm.js';
import { uniPCMultistepConverter } from '../src/diffusers/unipc.js';
import { wrapNetwork } from '../src/models/adapters.js';
import { sample } from '../src/sample.js';
import { deis } from '../src/solvers/deis.js';
import { pndm, type PndmOptions } from '../src/solvers/pndm.js';
import type { Solver } from '../src/solvers/solver.js';
import { unipc } from '../src/solvers/unipc.js';

const FILE = 'scheduler_config.json';
const SOLVERS: Record<string, Solver<any, any>> = { unipc, deis, pndm };

/** dummy_sample_deter (or, with flip, dummy_noise_deter) of shape [B, ...rest], built in (C, ..., B) order. */
function deter(shape: number[], flip = false): Batch {
  const [B, ...rest] = shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const perSample = n / B;
  const data = new Float32Array(n);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < perSample; k++) {
      const idx = k * B + b; // row-major index in the (C, ..., B) layout
      data[b * perSample + k] = (flip ? n - 1 - idx : idx) / n;
    }
  }
  return { data, shape: [B, ...rest] };
}

function dummyModel(plan: SamplingPlan, sampleShape: number[], calls: number[] = []) {
  return wrapNetwork(
    async (x: Float32Array, _shape: number[], t: number) => {
      calls.push(t);
      const out = new Float32Array(x.length);
      const c = t / (t + 1);
      for (let i = 0; i < x.length; i++) out[i] = x[i] * c;
      return out;
    },
    { prediction: plan.prediction === 'sample' ? 'sample' : plan.prediction, sampleShape, name: 'diffusers-dummy' },
  );
}

interface LoopResult {
  mean: number;
  sum: number;
  nfe: number;
  plan: SamplingPlan;
  /** The timesteps the network was called at, in order. */
  calls: number[];
}

/** The diffusers full loop: 10 inference steps from dummy_sample_deter (or add_noise at step tStart). */
async function fullLoop(
  convert: (c: Record<string, unknown>, steps: number, file: string) => SamplingPlan,
  config: Record<string, unknown>,
  opts: { shape?: number[]; tStart?: number; steps?: number } = {},
): Promise<LoopResult> {
  const shape = opts.shape ?? [4, 3, 8, 8];
  const plan = convert(config, opts.steps ?? 10, FILE);
  let grid = plan.grid;
  let x = deter(shape);
  if (opts.tStart !== undefined) {
    // test_full_loop_with_noise: sample = add_noise(sample, noise, timesteps[t_start]) = alpha x0 + sigma_vp noise
    grid = grid.slice(opts.tStart);
    const noise = deter(shape, true);
    const { sigma, alpha } = grid[0];
    const data = new Float32Array(x.data.length);
    for (let i = 0; i < data.length; i++) data[i] = alpha * x.data[i] + sigma * alpha * noise.data[i];
    x = { data, shape };
  }
  const calls: number[] = [];
  const model = dummyModel(plan, shape.slice(1), calls);
  const res = await sample({
    model,
    solver: SOLVERS[plan.solver],
    grid,
    schedule: plan.schedule,
    noise: x,
    solverOptions: plan.solverOptions,
    x0Transform: plan.x0Transform,
    stateScaling: plan.stateScaling,
  });
  let sum = 0;
  for (const v of res.samples.data) sum += Math.abs(v);
  return { mean: sum / res.samples.data.length, sum, nfe: res.nfe, plan, calls };
}

const UNIPC_BASE = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  solver_type: 'bh2',
  final_sigmas_type: 'sigma_min',
};
const DEIS_BASE = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', solver_order: 2 };
const PNDM_BASE = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };

interface Case {
  test: string;
  config: Record<string, unknown>;
  shape?: number[];
  tStart?: number;
  mean?: number;
  sum?: number;
  steps?: number;
  nfe?: number;
  calls?: number[];
}

// diffusers tests/schedulers/test_scheduler_unipc.py (UniPCMultistepSchedulerTest and UniPCMultistepScheduler1DTest).
const UNIPC_CASES: Case[] = [
  { test: 'test_full_loop_no_noise (and test_switch)', config: {}, mean: 0.2464 },
  { test: 'test_full_loop_with_karras', config: { use_karras_sigmas: true }, mean: 0.2925 },
  { test: 'test_full_loop_with_v_prediction', config: { prediction_type: 'v_prediction' }, mean: 0.1014 },
  { test: 'test_full_loop_with_karras_and_v_prediction', config: { prediction_type: 'v_prediction', use_karras_sigmas: true }, mean: 0.1966 },
  { test: 'test_full_loop_with_noise', config: {}, tStart: 8, mean: 0.4109, sum: 315.5757 },
  { test: '1D test_full_loop_no_noise (and test_switch)', config: {}, shape: [4, 3, 8], mean: 0.2441 },
  { test: '1D test_full_loop_with_karras', config: { use_karras_sigmas: true }, shape: [4, 3, 8], mean: 0.2898 },
  { test: '1D test_full_loop_with_v_prediction', config: { prediction_type: 'v_prediction' }, shape: [4, 3, 8], mean: 0.1014 },
  {
    test: '1D test_full_loop_with_karras_and_v_prediction',
    config: { prediction_type: 'v_prediction', use_karras_sigmas: true },
    shape: [4, 3, 8],
    mean: 0.1944,
  },
  { test: '1D test_full_loop_with_noise', config: {}, shape: [4, 3, 8], tStart: 8, mean: 0.4072, sum: 39.087 },
];

// diffusers tests/schedulers/test_scheduler_deis.py
const DEIS_CASES: Case[] = [
  { test: 'test_full_loop_no_noise (and test_switch)', config: {}, mean: 0.23916 },
  { test: 'test_full_loop_with_v_prediction', config: { prediction_type: 'v_prediction' }, mean: 0.091 },
  { test: 'test_full_loop_with_noise', config: {}, tStart: 8, mean: 0.41054, sum: 315.3016 },
];

// diffusers tests/schedulers/test_scheduler_pndm.py
const PNDM_CASES: Case[] = [
  { test: 'test_full_loop_no_noise', config: {}, mean: 0.258, sum: 198.1318 },
  { test: 'test_full_loop_with_v_prediction', config: { prediction_type: 'v_prediction' }, mean: 0.0878, sum: 67.3986 },
  { test: 'test_full_loop_with_set_alpha_to_one', config: { set_alpha_to_one: true, beta_start: 0.01 }, mean: 0.2995, sum: 230.0399 },
  { test: 'test_full_loop_with_no_set_alpha_to_one', config: { set_alpha_to_one: false, beta_start: 0.01 }, mean: 0.2434, sum: 186.9482 },
];

function runCases(name: string, convert: typeof uniPCMultistepConverter, base: Record<string, unknown>, cases: Case[], sumTol = 1e-2): void {
  describe(`${name} full loops`, () => {
    for (const c of cases) {
      it(c.test, async () => {
        const r = await fullLoop(convert, { ...base, ...c.config }, { shape: c.shape, tStart: c.tStart, steps: c.steps });
        if (c.mean !== undefined) expect(Math.abs(r.mean - c.mean)).toBeLessThan(1e-3);
        if (c.sum !== undefined) expect(Math.abs(r.sum - c.sum)).toBeLessThan(sumTol);
        if (c.nfe !== undefined) expect(r.nfe).toBe(c.nfe);
        if (c.calls !== undefined) expect(r.calls).toEqual(c.calls);
      });
    }
  });
}

runCases('UniPCMultistepScheduler', uniPCMultistepConverter, UNIPC_BASE, UNIPC_CASES);
runCases('DEISMultistepScheduler', deisMultistepConverter, DEIS_BASE, DEIS_CASES);
runCases('PNDMScheduler', pndmConverter, PNDM_BASE, PNDM_CASES);

// Configurations diffusers' tests run without expected numbers. The sums come from a float64 numpy transcription of
// diffusers' step code (UniPCMultistepScheduler.multistep_uni_p_bh_update / multistep_uni_c_bh_update / step,
// DEISMultistepScheduler.step, PNDMScheduler.step_prk / step_plms, read from diffusers' sources), which also
// reproduces every diffusers number above (e.g. PNDM 198.131881, v_prediction 67.398605); sums agree to 1e-3.
const UNIPC_PORT: Case[] = [
  { test: 'bh1 (test_solver_order_and_type)', config: { solver_type: 'bh1' }, sum: 193.5755 },
  { test: 'order 3', config: { solver_order: 3 }, sum: 189.9729 },
  { test: 'order 1', config: { solver_order: 1 }, sum: 178.4625 },
  { test: "final_sigmas_type 'zero' (diffusers default)", config: { final_sigmas_type: 'zero' }, sum: 186.762 },
  { test: 'predict_x0 false (noise prediction form)', config: { predict_x0: false }, sum: 187.3961 },
  { test: 'predict_x0 false, order 3, bh1', config: { predict_x0: false, solver_order: 3, solver_type: 'bh1' }, sum: 187.8837 },
  { test: 'predict_x0 false, v_prediction', config: { predict_x0: false, prediction_type: 'v_prediction' }, sum: 71.2126 },
  { test: 'lower_order_final false, order 3', config: { lower_order_final: false, solver_order: 3 }, sum: 89.0771 },
  { test: 'disable_corrector [0, 1, 2]', config: { disable_corrector: [0, 1, 2] }, sum: 189.1227 },
  { test: "prediction_type 'sample', order 3, bh1", config: { prediction_type: 'sample', solver_order: 3, solver_type: 'bh1' }, sum: 750.6259 },
  { test: 'thresholding, sample_max_value 0.5 (test_thresholding)', config: { thresholding: true, sample_max_value: 0.5 }, sum: 556.2517 },
  {
    test: 'thresholding is ignored with predict_x0 false (as diffusers)',
    config: { thresholding: true, sample_max_value: 0.5, predict_x0: false },
    sum: 187.3961,
  },
];
const DEIS_PORT: Case[] = [
  { test: 'order 3', config: { solver_order: 3 }, sum: 185.5799 },
  { test: 'order 1 (DDIM)', config: { solver_order: 1 }, sum: 172.2642 },
  { test: 'order 3, lower_order_final false', config: { solver_order: 3, lower_order_final: false }, sum: 205.09 },
  { test: 'thresholding, sample_max_value 0.5', config: { thresholding: true, sample_max_value: 0.5 }, sum: 540.9365 },
];
// prk_timesteps + plms_timesteps of diffusers' set_timesteps, i.e. the network's calls in order.
const PNDM_PORT: Case[] = [
  {
    test: 'steps_offset 1: calls at test_steps_offset timesteps',
    config: { steps_offset: 1 },
    sum: 199.3817,
    nfe: 19,
    calls: [901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1],
  },
  {
    test: '9 steps: T // N = 111 is odd (first half transfer lands one timestep above the half step)',
    config: {},
    steps: 9,
    sum: 198.0864,
    nfe: 18,
    calls: [888, 832, 832, 777, 777, 721, 721, 666, 666, 610, 610, 555, 555, 444, 333, 222, 111, 0],
  },
  { test: 'skip_prk_steps', config: { skip_prk_steps: true }, sum: 197.7156, nfe: 11 },
  {
    test: 'skip_prk_steps, steps_offset 1, 9 steps',
    config: { skip_prk_steps: true, steps_offset: 1 },
    steps: 9,
    sum: 199.3647,
    nfe: 10,
    calls: [889, 778, 778, 667, 556, 445, 334, 223, 112, 1],
  },
  { test: "timestep_spacing 'trailing'", config: { timestep_spacing: 'trailing' }, sum: 198.0858, nfe: 19 },
  { test: 'skip_prk_steps, 1 step (a single DDIM step)', config: { skip_prk_steps: true }, steps: 1, sum: 383.5, nfe: 1 },
  { test: 'skip_prk_steps, 2 steps', config: { skip_prk_steps: true }, steps: 2, sum: 717.9505, nfe: 3 },
  { test: '4 steps (3 PRK + 1 PLMS)', config: {}, steps: 4, sum: 239.2799, nfe: 13 },
  { test: 'skip_prk_steps, v_prediction, 7 steps', config: { skip_prk_steps: true, prediction_type: 'v_prediction' }, steps: 7, sum: 61.3702, nfe: 8 },
  // Uneven spacings: diffusers transfers to t - T // N, off its own timesteps, and hands the sample on as is.
  {
    test: "timestep_spacing 'linspace' (T // N = 100, timesteps 111 apart)",
    config: { timestep_spacing: 'linspace' },
    sum: 215.7373,
    nfe: 19,
    calls: [999, 938, 938, 888, 888, 827, 827, 777, 777, 716, 716, 666, 666, 555, 444, 333, 222, 111, 0],
  },
  {
    test: "timestep_spacing 'linspace', skip_prk_steps",
    config: { timestep_spacing: 'linspace', skip_prk_steps: true },
    sum: 215.1542,
    nfe: 11,
    calls: [999, 888, 888, 777, 666, 555, 444, 333, 222, 111, 0],
  },
  {
    test: "timestep_spacing 'trailing', 7 steps (the last transfer lands on t = 0, not final_alpha_cumprod)",
    config: { timestep_spacing: 'trailing' },
    steps: 7,
    sum: 201.2821,
    nfe: 16,
    calls: [999, 927, 927, 856, 856, 784, 784, 713, 713, 641, 641, 570, 570, 428, 285, 142],
  },
  { test: "timestep_spacing 'trailing', 7 steps, skip_prk_steps", config: { timestep_spacing: 'trailing', skip_prk_steps: true }, steps: 7, sum: 193.9584, nfe: 8 },
  {
    test: "timestep_spacing 'linspace', skip_prk_steps, v_prediction, 8 steps",
    config: { timestep_spacing: 'linspace', skip_prk_steps: true, prediction_type: 'v_prediction' },
    steps: 8,
    sum: 82.0446,
    nfe: 9,
  },
  { test: "timestep_spacing 'linspace', v_prediction, 6 steps", config: { timestep_spacing: 'linspace', prediction_type: 'v_prediction' }, steps: 6, sum: 62.9044, nfe: 15 },
];

// Float64 references: a tighter tolerance (the 9-step case is 198.0811 without diffusers' half-step bookkeeping).
runCases('UniPCMultistepScheduler (numpy port of diffusers)', uniPCMultistepConverter, UNIPC_BASE, UNIPC_PORT, 1e-3);
runCases('DEISMultistepScheduler (numpy port of diffusers)', deisMultistepConverter, DEIS_BASE, DEIS_PORT, 1e-3);
runCases('PNDMScheduler (numpy port of diffusers)', pndmConverter, PNDM_BASE, PNDM_PORT, 1e-3);

describe('test_solver_order_and_type: no NaN', () => {
  it('UniPC orders 1-3, bh1/bh2, epsilon/sample', async () => {
    for (const solver_type of ['bh1', 'bh2']) {
      for (const solver_order of [1, 2, 3]) {
        for (const prediction_type of ['epsilon', 'sample']) {
          const r = await fullLoop(uniPCMultistepConverter, { ...UNIPC_BASE, solver_type, solver_order, prediction_type });
          expect(Number.isFinite(r.sum)).toBe(true);
        }
      }
    }
  });
  it('DEIS orders 1-3, epsilon/sample', async () => {
    for (const solver_order of [1, 2, 3]) {
      for (const prediction_type of ['epsilon', 'sample']) {
        const r = await fullLoop(deisMultistepConverter, { ...DEIS_BASE, solver_order, prediction_type });
        expect(Number.isFinite(r.sum)).toBe(true);
      }
    }
  });
});

describe('converter plans and refusals', () => {
  it('UniPC: grid ends, karras range keys, solver_type aliases, thresholding', () => {
    const zero = uniPCMultistepConverter({}, 10, FILE);
    expect(zero.grid).toHaveLength(11);
    expect(zero.grid[10].sigma).toBe(0);
    expect(zero.grid.slice(0, 10).map((p) => p.t)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(zero.solverOptions).toEqual({ solverOrder: 2, solverType: 'bh2', predictX0: true, disableCorrector: [], lowerOrderFinal: true });
    expect(zero.x0Transform).toBeUndefined();
    const karras = uniPCMultistepConverter({ use_karras_sigmas: true, final_sigmas_type: 'sigma_min', sigma_min: 0.1, sigma_max: 50 }, 6, FILE);
    expect(karras.grid[0].sigma).toBeCloseTo(50, 4);
    expect(karras.grid[5].sigma).toBeCloseTo(0.1, 6);
    expect(karras.grid[6].sigma).toBe(karras.grid[5].sigma);
    expect(uniPCMultistepConverter({ solver_type: 'midpoint' }, 5, FILE).solverOptions.solverType).toBe('bh2');
    expect(uniPCMultistepConverter({ thresholding: true }, 5, FILE).x0Transform).toBeTypeOf('function');
    expect(uniPCMultistepConverter({ use_exponential_sigmas: true }, 5, FILE).grid).toHaveLength(6);
  });
  it('UniPC refuses what it cannot honour, naming file and key', () => {
    expect(() => uniPCMultistepConverter({ solver_p: { _class_name: 'DDIMScheduler' } }, 10, FILE)).toThrow(/scheduler_config\.json.*'solver_p'/);
    expect(() => uniPCMultistepConverter({ use_beta_sigmas: true }, 10, FILE)).toThrow(/'use_beta_sigmas'/);
    expect(() => uniPCMultistepConverter({ use_flow_sigmas: true }, 10, FILE)).toThrow(/'use_flow_sigmas'/);
    expect(() => uniPCMultistepConverter({ prediction_type: 'flow_prediction' }, 10, FILE)).toThrow(/'prediction_type'/);
    expect(() => uniPCMultistepConverter({ solver_type: 'rk4' }, 10, FILE)).toThrow(/'solver_type'/);
    expect(() => uniPCMultistepConverter({ use_karras_sigmas: true, use_exponential_sigmas: true }, 10, FILE)).toThrow(/only one of/);
    expect(() => uniPCMultistepConverter({ disable_corrector: [0.5] }, 10, FILE)).toThrow(/'disable_corrector'/);
    expect(() => uniPCMultistepConverter({ solver_ordr: 2 }, 10, FILE)).toThrow(/scheduler_config\.json: key 'solver_ordr'/);
    expect(() => uniPCMultistepConverter({}, 0, FILE)).toThrow(/inference steps/);
  });
  it('DEIS: final point, karras repeat, diffusers aliases, refusals', () => {
    const plan = deisMultistepConverter({}, 10, FILE);
    expect(plan.grid[10].sigma).toBeCloseTo(0.01, 4); // sigma at t = 0, not 0
    const karras = deisMultistepConverter({ use_karras_sigmas: true }, 8, FILE);
    expect(karras.grid[8].sigma).toBe(karras.grid[7].sigma);
    expect(deisMultistepConverter({ algorithm_type: 'dpmsolver++', solver_type: 'bh2' }, 5, FILE).solver).toBe('deis');
    expect(() => deisMultistepConverter({ solver_order: 4 }, 10, FILE)).toThrow(/'solver_order'/);
    expect(() => deisMultistepConverter({ algorithm_type: 'sde-dpmsolver++' }, 10, FILE)).toThrow(/'algorithm_type'/);
    expect(() => deisMultistepConverter({ rescale_betas_zero_snr: true }, 10, FILE)).toThrow(/'rescale_betas_zero_snr'/);
  });
  it('PNDM: grid, half points, final alpha, refusals', () => {
    const plan = pndmConverter({ steps_offset: 1, set_alpha_to_one: true }, 10, FILE);
    expect(plan.grid.map((p) => p.t).slice(0, 10)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(plan.grid[10]).toEqual({ sigma: 0, t: 0, alpha: 1 });
    expect((plan.solverOptions.halfPoints as { t: number }[]).map((p) => p.t)).toEqual([851, 751, 651]);
    expect(plan.solverOptions.halfTargets).toBeUndefined();
    expect(pndm.nfe(10, plan.solverOptions as PndmOptions)).toBe(19);
    expect(pndmConverter({ clip_sample: false, skip_prk_steps: true }, 10, FILE).solverOptions).toEqual({ skipPrk: true });
    expect(plan.solverOptions.prevPoints).toBeUndefined(); // evenly spaced: every transfer lands on the grid
    const lin = pndmConverter({ timestep_spacing: 'linspace' }, 10, FILE);
    expect((lin.solverOptions.prevPoints as { t: number }[]).map((p) => p.t)).toEqual([888, 777, 666, 566, 455, 344, 233, 122, 11, 0]);
    expect((lin.solverOptions.halfTargets as { t: number }[]).map((p) => p.t)).toEqual([949, 838, 727]);
    expect((pndmConverter({ timestep_spacing: 'linspace', skip_prk_steps: true }, 10, FILE).solverOptions.heunSource as { t: number }).t).toBe(988);
    expect(() => pndmConverter({}, 3, FILE)).toThrow(/at least 4/);
    expect(() => pndmConverter({ prediction_type: 'sample' }, 10, FILE)).toThrow(/'prediction_type'/);
    expect(() => pndmConverter({ rescale_betas_zero_snr: true }, 10, FILE)).toThrow(/'rescale_betas_zero_snr'/);
  });
});

describe('real configs through the registry', () => {
  it("Stable Diffusion 1.x's PNDMScheduler config (skip_prk_steps, steps_offset 1, clip_sample)", () => {
    const sd = {
      _class_name: 'PNDMScheduler',
      _diffusers_version: '0.6.0',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      trained_betas: null,
      clip_sample: false,
    };
    const plan = planFromSchedulerConfig(sd, 'scheduler/scheduler_config.json', 50);
    expect(plan.solver).toBe('pndm');
    expect(plan.grid).toHaveLength(51);
    expect(plan.grid.slice(0, 50).map((p) => p.t)).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
    expect(plan.solverOptions).toEqual({ skipPrk: true });
    expect(pndm.nfe(50, plan.solverOptions as PndmOptions)).toBe(51);
  });
  it('UniPC and DEIS configs map to their solvers', () => {
    expect(planFromSchedulerConfig({ _class_name: 'UniPCMultistepScheduler', solver_order: 3 }, FILE, 8).solver).toBe('unipc');
    expect(planFromSchedulerConfig({ _class_name: 'DEISMultistepScheduler' }, FILE, 8).solver).toBe('deis');
  });
});
