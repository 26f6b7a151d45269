// The issue's diffusers contract, end to end through the CLI: `iia sample --model onnx:unet.onnx --scheduler-config
// cfg.json --steps 10 --noise x.npy --out y.npy` does what the diffusers loop does (model(sample, t), then the
// scheduler's step) from the given array. The UNet is diffusers' scheduler-test dummy model out = sample * t / (t + 1)
// as an ONNX file (test/fixtures/models/dummy-unet.onnx, built by buildDummyUnet); the noise is their
// dummy_sample_deter; expected numbers are those of diffusers' tests/schedulers/test_scheduler_*.py full loops.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { iia, readNpy, tempDir, writeNpy } from './cli-helpers.js';

const dir = tempDir('iia-diffusers-e2e-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const unet = fileURLToPath(new URL('./fixtures/models/dummy-unet.onnx', import.meta.url));

// diffusers' dummy_sample_deter: arange(768).reshape(C=3, H=8, W=8, B=4) / 768, permuted to (B, C, H, W).
const B = 4, C = 3, H = 8, W = 8;
const deter = new Float32Array(B * C * H * W);
for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
  deter[((b * C + c) * H + h) * W + w] = (c * 256 + h * 32 + w * 4 + b) / 768;
}
const noiseFile = join(dir, 'x.npy');
writeNpy(noiseFile, deter, [B, C, H, W]);

const BASE = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' };
const CASES: { name: string; config: Record<string, unknown>; sum?: number; mean: number }[] = [
  // test_scheduler_ddim.py::test_full_loop_no_noise (clip_sample true)
  { name: 'DDIM', config: { _class_name: 'DDIMScheduler', ...BASE, clip_sample: true }, sum: 172.0067, mean: 0.223967 },
  // test_scheduler_pndm.py::test_full_loop_no_noise (PRK warm-up, then PLMS)
  { name: 'PNDM', config: { _class_name: 'PNDMScheduler', ...BASE }, sum: 198.1318, mean: 0.258 },
  // test_scheduler_dpm_multi.py::test_full_loop_no_noise
  {
    name: 'DPM-Solver++ 2M',
    config: { _class_name: 'DPMSolverMultistepScheduler', ...BASE, solver_order: 2, algorithm_type: 'dpmsolver++', solver_type: 'midpoint', lower_order_final: false, final_sigmas_type: 'sigma_min' },
    mean: 0.3301,
  },
  // test_scheduler_unipc.py::test_full_loop_no_noise
  { name: 'UniPC bh2', config: { _class_name: 'UniPCMultistepScheduler', ...BASE, solver_order: 2, solver_type: 'bh2', final_sigmas_type: 'sigma_min' }, mean: 0.2464 },
  // test_scheduler_deis.py::test_full_loop_no_noise
  { name: 'DEIS order 2', config: { _class_name: 'DEISMultistepScheduler', ...BASE, solver_order: 2 }, mean: 0.23916 },
];

describe('diffusers full loops through `iia sample --model onnx:... --scheduler-config`', () => {
  for (const c of CASES) {
    it(`${c.name}: mean |x| ${c.mean}${c.sum ? `, sum |x| ${c.sum}` : ''}`, async () => {
      const cfg = join(dir, `${c.name.replace(/\W+/g, '_')}.json`);
      const out = join(dir, `${c.name.replace(/\W+/g, '_')}.npy`);
      writeFileSync(cfg, JSON.stringify(c.config));
      const r = await iia(['sample', '--model', `onnx:${unet}`, '--shape', '3,8,8', '--scheduler-config', cfg, '--steps', '10',
        '--noise', noiseFile, '--out', out, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const y = readNpy(out);
      expect(y.shape).toEqual([B, C, H, W]);
      let sum = 0;
      for (const v of y.data) sum += Math.abs(v);
      expect(Math.abs(sum / y.data.length - c.mean)).toBeLessThan(1e-3);
      if (c.sum !== undefined) expect(Math.abs(sum - c.sum)).toBeLessThan(1e-2);
    });
  }
});
