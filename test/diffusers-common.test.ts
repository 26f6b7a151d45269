import { describe, expect, it } from 'vitest';
import {
  ddimTimesteps,
  deisMultistepTimesteps,
  dpmSolverLastTimestep,
  dpmSolverMultistepTimesteps,
  eulerDiscreteTimesteps,
  numpyArange,
  numpyLinspace,
  pndmTimesteps,
  readBoolean,
  readEnum,
  readInteger,
  readNumber,
  readNumberList,
  readOptionalNumber,
  readString,
  rejectUnknownKeys,
  roundHalfEven,
  uniPCMultistepTimesteps,
  vpDiscreteFromConfig,
} from '../src/diffusers/common.js';
import { VpDiscreteSchedule } from '../src/schedules/vp-discrete.js';

// Expected values below were computed with python3 + numpy 2.4 on this machine, with the expressions of diffusers'
// set_timesteps (e.g. np.linspace(0, 999, N + 1).round()[::-1][:-1]), and pasted as literals.

describe('numpy arithmetic', () => {
  it('roundHalfEven is numpy round', () => {
    // np.round([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2.5000000000000004])
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2.5000000000000004].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 0, 3]);
    expect(Math.round(2.5)).toBe(3); // why it exists
    expect(Object.is(roundHalfEven(-0.4), 0)).toBe(true);
  });
  it('numpyLinspace reproduces numpy float64 bits', () => {
    // np.linspace(0, 999, 18).tolist()
    expect(numpyLinspace(0, 999, 18)).toEqual([
      0.0, 58.76470588235294, 117.52941176470588, 176.29411764705884, 235.05882352941177, 293.8235294117647, 352.5882352941177,
      411.3529411764706, 470.11764705882354, 528.8823529411765, 587.6470588235294, 646.4117647058823, 705.1764705882354,
      763.9411764705883, 822.7058823529412, 881.4705882352941, 940.2352941176471, 999.0,
    ]);
    // np.linspace(0, 999, 6): 599.4000000000001
    expect(numpyLinspace(0, 999, 6)).toEqual([0.0, 199.8, 399.6, 599.4000000000001, 799.2, 999.0]);
    expect(numpyLinspace(0.1, 0.7, 7)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    // np.linspace(1, 0.3, 5, endpoint=False)
    expect(numpyLinspace(1, 0.3, 5, false)).toEqual([1.0, 0.86, 0.72, 0.5800000000000001, 0.44000000000000006]);
    expect(numpyLinspace(3, 7, 1)).toEqual([3]);
    expect(numpyLinspace(3, 7, 0)).toEqual([]);
  });
  it('numpyArange reproduces numpy float64 bits and length', () => {
    // np.arange(0.1, 1.0, 0.1).tolist(); len(np.arange(1, 2, 0.1)) == 10
    expect(numpyArange(0.1, 1.0, 0.1)).toEqual([0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.7000000000000001, 0.8, 0.9]);
    expect(numpyArange(1, 2, 0.1).length).toBe(10);
    expect(numpyArange(1000, 0, -1000 / 3).length).toBe(3);
  });
});

describe('timestep spacings (T = 1000)', () => {
  it('DDIM leading, N = 10, steps_offset 1: [901, 801, ..., 1]', () => {
    expect(ddimTimesteps('leading', 1000, 10, 1)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    // diffusers tests/schedulers/test_scheduler_ddim.py test_steps_offset
    expect(ddimTimesteps('leading', 1000, 5, 1)).toEqual([801, 601, 401, 201, 1]);
  });
  it('DDIM trailing and linspace', () => {
    expect(ddimTimesteps('trailing', 1000, 3)).toEqual([999, 666, 332]);
    expect(ddimTimesteps('trailing', 1000, 7)).toEqual([999, 856, 713, 570, 428, 285, 142]);
    // np.linspace(0, 999, n).round()[::-1]
    expect(ddimTimesteps('linspace', 1000, 6)).toEqual([999, 799, 599, 400, 200, 0]);
    expect(ddimTimesteps('linspace', 1000, 12)).toEqual([999, 908, 817, 727, 636, 545, 454, 363, 272, 182, 91, 0]);
    expect(ddimTimesteps('linspace', 1000, 18)).toEqual([
      999, 940, 881, 823, 764, 705, 646, 588, 529, 470, 411, 353, 294, 235, 176, 118, 59, 0,
    ]);
  });
  it('DPM-Solver / UniPC / DEIS linspace at N = 6, 12, 18: numpy rounding of exact halves (166.5 -> 166)', () => {
    // np.linspace(0, 999, N + 1).round()[::-1][:-1]
    const e6 = [999, 832, 666, 500, 333, 166];
    const e12 = [999, 916, 832, 749, 666, 583, 500, 416, 333, 250, 166, 83];
    const e18 = [999, 944, 888, 832, 777, 722, 666, 610, 555, 500, 444, 388, 333, 278, 222, 166, 111, 56];
    for (const f of [dpmSolverMultistepTimesteps, uniPCMultistepTimesteps, deisMultistepTimesteps]) {
      expect(f('linspace', 1000, 6)).toEqual(e6);
      expect(f('linspace', 1000, 12)).toEqual(e12);
      expect(f('linspace', 1000, 18)).toEqual(e18);
    }
    // JavaScript's Math.round gives 833 and 167 here: the reason for roundHalfEven.
    const mathRound = numpyLinspace(0, 999, 7).map(Math.round).reverse().slice(0, 6);
    expect(mathRound).toEqual([999, 833, 666, 500, 333, 167]);
  });
  it('DPM-Solver / UniPC / DEIS leading and trailing', () => {
    // (np.arange(0, N + 1) * (1000 // (N + 1))).round()[::-1][:-1] + 1
    expect(dpmSolverMultistepTimesteps('leading', 1000, 5, 1)).toEqual([831, 665, 499, 333, 167]);
    expect(uniPCMultistepTimesteps('leading', 1000, 7, 1)).toEqual([876, 751, 626, 501, 376, 251, 126]);
    expect(deisMultistepTimesteps('leading', 1000, 10, 1)).toEqual([901, 811, 721, 631, 541, 451, 361, 271, 181, 91]);
    // np.arange(1000, 0, -1000 / N).round() - 1
    expect(dpmSolverMultistepTimesteps('trailing', 1000, 5)).toEqual([999, 799, 599, 399, 199]);
    expect(uniPCMultistepTimesteps('trailing', 1000, 7)).toEqual([999, 856, 713, 570, 428, 285, 142]);
    expect(deisMultistepTimesteps('trailing', 1000, 10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });
  it('DPM-Solver last timestep from lambda_min_clipped', () => {
    const s = new VpDiscreteSchedule({ betaSchedule: 'squaredcos_cap_v2' });
    expect(dpmSolverLastTimestep(s.alphasCumprod, -Infinity)).toBe(1000);
    const last = dpmSolverLastTimestep(s.alphasCumprod, -5.1);
    expect(last).toBeLessThan(1000);
    // lambda = -log(sigma_edm) at t = last - 1 is >= -5.1, at t = last it is below
    expect(-Math.log(s.sigmaOfT(last - 1))).toBeGreaterThanOrEqual(-5.1 - 1e-5);
    expect(-Math.log(s.sigmaOfT(last))).toBeLessThan(-5.1 + 1e-5);
    expect(dpmSolverMultistepTimesteps('linspace', 1000, 5, 0, last)[0]).toBe(last - 1);
  });
  it('PNDM _timesteps (ascending)', () => {
    expect(pndmTimesteps('linspace', 1000, 6)).toEqual([0, 200, 400, 599, 799, 999]);
    expect(pndmTimesteps('leading', 1000, 10, 1)).toEqual([1, 101, 201, 301, 401, 501, 601, 701, 801, 901]);
    expect(pndmTimesteps('trailing', 1000, 7)).toEqual([142, 285, 428, 570, 713, 856, 999]);
  });
  it('EulerDiscrete timesteps: float32 linspace, not rounded', () => {
    // np.linspace(0, 999, 6, dtype=np.float32)[::-1]
    expect(eulerDiscreteTimesteps('linspace', 1000, 6)).toEqual([999.0, 799.2000122070312, 599.4000244140625, 399.6000061035156, 199.8000030517578, 0.0]);
    expect(eulerDiscreteTimesteps('leading', 1000, 5, 1)).toEqual([801, 601, 401, 201, 1]);
  });
  it('refuses bad counts and spacings', () => {
    expect(() => ddimTimesteps('leading', 1000, 0)).toThrow(/num_inference_steps is 0/);
    expect(() => ddimTimesteps('leading', 10, 11)).toThrow(/num_inference_steps is 11; expected at most num_train_timesteps \(10\)/);
    expect(() => ddimTimesteps('middle' as 'leading', 1000, 10)).toThrow(/timestep_spacing is 'middle'/);
  });
});

describe('config readers', () => {
  const cfg = { _class_name: 'DDIMScheduler', beta_start: 0.00085, steps: 3, flag: true, name: 'linear', list: [0.1, 0.2], nothing: null, bad: 'x' };
  const F = 'scheduler_config.json';
  it('read values and defaults (null = default, as diffusers writes it)', () => {
    expect(readNumber(cfg, 'beta_start', F, 1)).toBe(0.00085);
    expect(readNumber(cfg, 'missing', F, 7)).toBe(7);
    expect(readNumber(cfg, 'nothing', F, 7)).toBe(7);
    expect(readOptionalNumber(cfg, 'missing', F)).toBeUndefined();
    expect(readInteger(cfg, 'steps', F, 0, 1)).toBe(3);
    expect(readBoolean(cfg, 'flag', F, false)).toBe(true);
    expect(readString(cfg, 'name', F, '')).toBe('linear');
    expect(readEnum(cfg, 'name', F, ['linear', 'scaled_linear'] as const, 'scaled_linear')).toBe('linear');
    expect(readNumberList(cfg, 'list', F)).toEqual([0.1, 0.2]);
    expect(readNumberList(cfg, 'nothing', F)).toBeUndefined();
  });
  it('errors name the file and the key', () => {
    expect(() => readNumber(cfg, 'bad', F, 1)).toThrow("scheduler_config.json: key 'bad' is 'x'; expected a finite number");
    expect(() => readInteger(cfg, 'beta_start', F, 1)).toThrow(/scheduler_config.json: key 'beta_start' is 0.00085; expected an integer/);
    expect(() => readBoolean(cfg, 'name', F, false)).toThrow(/key 'name' is 'linear'; expected true or false/);
    expect(() => readEnum(cfg, 'bad', F, ['a', 'b'], 'a')).toThrow(/key 'bad' is 'x'; expected one of 'a', 'b'/);
    expect(() => readNumberList({ l: [1, 'z'] }, 'l', F)).toThrow(/key 'l' item 1 is 'z'/);
    expect(() => readNumberList(cfg, 'flag', F)).toThrow(/key 'flag' is true; expected a list of numbers/);
  });
  it('rejectUnknownKeys ignores diffusers bookkeeping', () => {
    const c = { _class_name: 'X', _diffusers_version: '0.30.0', _whatever: 1, beta_start: 1 };
    expect(() => rejectUnknownKeys(c, ['beta_start'], F)).not.toThrow();
    expect(() => rejectUnknownKeys({ ...c, typo_key: 1 }, ['beta_start'], F)).toThrow(/scheduler_config.json: key 'typo_key' is not supported/);
  });
});

describe('vpDiscreteFromConfig', () => {
  it('builds the Stable Diffusion schedule with diffusers defaults for missing keys', () => {
    const s = vpDiscreteFromConfig({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', trained_betas: null }, 'sd.json');
    expect(s.trainSteps).toBe(1000);
    expect(s.alphasCumprod[999]).toBe(0.00466009508818388);
    expect(vpDiscreteFromConfig({}, 'empty.json').alphasCumprod[999]).toBe(4.0358307160204276e-5);
  });
  it('trained_betas and errors naming file and key', () => {
    const s = vpDiscreteFromConfig({ trained_betas: [0.1, 0.2, 0.3] }, 'c.json');
    expect(s.trainSteps).toBe(3);
    expect(s.alphasCumprod[2]).toBe(Math.fround(Math.fround(0.9 * Math.fround(0.8)) * Math.fround(0.7)));
    expect(() => vpDiscreteFromConfig({ beta_schedule: 'sigmoid' }, 'c.json')).toThrow(
      "c.json: key 'beta_schedule' is 'sigmoid'; expected one of 'linear', 'scaled_linear', 'squaredcos_cap_v2'",
    );
    expect(() => vpDiscreteFromConfig({ num_train_timesteps: '1000' }, 'c.json')).toThrow(/c.json: key 'num_train_timesteps' is '1000'/);
    expect(() => vpDiscreteFromConfig({ num_train_timesteps: 10, trained_betas: [0.1, 0.2] }, 'c.json')).toThrow(/c.json: key 'trained_betas' has 2 values/);
    expect(() => vpDiscreteFromConfig({ beta_end: 3 }, 'c.json')).toThrow("c.json: key 'beta_end' is 3; expected a number in (0, 1)");
  });
});
