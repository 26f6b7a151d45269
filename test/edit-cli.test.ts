// `iia edit` in-process (src/cli/edit.ts): the report (JSON and text), the output against the library, the dense
// fallback message, and one-line errors that name the file and the field.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { readImagePng } from '../src/cli/edit.js';
import { sparseEdit } from '../src/edit/sparse.js';
import { makeGrid } from '../src/grids/index.js';
import { loadEmbeddedDataset } from '../src/models/data.js';
import { LocalEmpiricalDenoiser } from '../src/models/patch-denoiser.js';
import { makeSchedule } from '../src/schedules/index.js';
import { getSolver } from '../src/solvers/index.js';
import { iia, readNpy, tempDir, type RunResult } from './cli-helpers.js';

/** `iia edit ...` through the real CLI (src/cli/main.ts run()), in-process. */
const iiaEdit = (argv: string[]): Promise<RunResult> => iia(['edit', ...argv]);

const dir = tempDir('iia-edit-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write an RGBA PNG from a function of the pixel. */
function writePng(path: string, width: number, height: number, px: (x: number, y: number) => [number, number, number, number?]): void {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = px(x, y);
      png.data.set([r, g, b, a ?? 255], 4 * (y * width + x));
    }
  }
  writeFileSync(path, PNG.sync.write(png));
}

// A digit (8 x 8, grey) and the same digit with a 2 x 2 white block painted in.
const digits = loadEmbeddedDataset('digits', 200);
const byte = (v: number) => Math.round(((v + 1) / 2) * 255);
const digit = (x: number, y: number): [number, number, number] => {
  const g = byte(digits.images[5 * 64 + y * 8 + x]);
  return [g, g, g];
};
const IN = join(dir, 'in.png');
const ED = join(dir, 'edited.png');
writePng(IN, 8, 8, digit);
writePng(ED, 8, 8, (x, y) => (x >= 1 && x < 3 && y >= 5 && y < 7 ? [255, 255, 255] : digit(x, y)));
const common = ['--image', IN, '--edited', ED, '--strength', '0.5', '--steps', '8'];

describe('iia edit', () => {
  it('edits sparsely and exactly with a patch: model; the .npy output is the library result', async () => {
    const out = join(dir, 'out.npy');
    const r = await iiaEdit(['--model', 'patch:digits:200', ...common, '--tile', '2', '--compare-dense', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      model: 'patch:digits:200', solver: 'ddim', schedule: 'edm', grid: 'karras', gridSteps: 8, steps: 4, nfe: 4,
      mode: 'sparse', exact: true, fallback: null, receptiveRadius: 1, tile: 2, dilation: null,
      editedPixels: 4, totalPixels: 64, editedArea: 6.25, dense: { maxAbsDiff: 0, identical: true }, out,
    });
    expect(s.ops.saving).toBeCloseTo(s.ops.dense / s.ops.sparse, 12);
    expect(s.ops.saving).toBeGreaterThan(1);
    expect(s.calls).toHaveLength(4);
    expect(s.seconds.original).toBeGreaterThan(0);

    const model = new LocalEmpiricalDenoiser(digits.images, digits.shape, { radius: 1, tile: 2 });
    const schedule = makeSchedule('edm');
    const lib = await sparseEdit({
      model, solver: getSolver('ddim'), grid: makeGrid(schedule, { kind: 'karras', steps: 8 }), schedule, strength: 0.5,
      original: await readImagePng(IN, '--image', [1, 8, 8], 'm'), edited: await readImagePng(ED, '--edited', [1, 8, 8], 'm'),
    });
    const npy = readNpy(out);
    expect(npy.shape).toEqual([1, 1, 8, 8]);
    expect(Array.from(npy.data)).toEqual(Array.from(lib.result));
  });

  it('--adaptive stays exact; --dilation is reported as approximate', async () => {
    const a = JSON.parse((await iiaEdit(['--model', 'patch:digits:200', ...common, '--adaptive', '--compare-dense', '--json'])).stdout);
    expect(a).toMatchObject({ mode: 'sparse', exact: true, adaptive: true, dense: { identical: true } });
    expect(a.calls.every((c: { changedPixels: number; conePixels: number }) => c.changedPixels <= c.conePixels)).toBe(true);
    const d = await iiaEdit(['--model', 'patch:digits:200', ...common, '--dilation', '0']);
    expect(d.stdout).toContain("sparse (fixed mask dilated by 0 (SIGE's approximation, not exact)");
    const both = await iiaEdit(['--model', 'patch:digits:200', ...common, '--dilation', '1', '--adaptive']);
    expect(both.stderr).toBe('iia: --adaptive: follows the exact cone; it does not combine with --dilation\n');
  });

  it('writes a PNG and a readable report', async () => {
    const out = join(dir, 'out.png');
    const r = await iiaEdit(['--model', 'patch:digits:200', ...common, '--solver', 'euler', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^euler on patch:digits:200: SDEdit over 4 of 8 steps from sigma [\d.]+ \(strength 0.5\), 4 NFE; edited area 6.25% \(4 of 64 pixels\)\n/);
    expect(r.stdout).toMatch(/sparse \(exact dependency cone; receptive radius 1, 4x4 tiles, [\d.]+% of the pixels recomputed per call on average\): [\d.e+]+ of [\d.e+]+ multiply-adds, [\d.]+x fewer/);
    expect(r.stdout).toContain(`-> ${out}`);
    const png = PNG.sync.read(readFileSync(out));
    expect([png.width, png.height]).toEqual([8, 8]);
  });

  it('runs a global model densely and says so', async () => {
    const r = await iiaEdit(['--model', 'data:digits:200', ...common]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dense: data:digits:200 has no finite receptive field (every output pixel depends on every input pixel)');
    expect(r.stdout).toContain('no compute saved');
    const j = JSON.parse((await iiaEdit(['--model', 'data:digits:200', ...common, '--json'])).stdout);
    expect(j).toMatchObject({ mode: 'dense', ops: null, exact: null });
    expect(j.fallback).toMatch(/no finite receptive field/);
  });

  it('names the file and the field when an image does not fit the model', async () => {
    const big = join(dir, 'big.png');
    writePng(big, 16, 12, () => [0, 0, 0]);
    const r = await iiaEdit(['--model', 'patch:digits:200', '--image', IN, '--edited', big, '--strength', '0.5', '--steps', '8']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`iia: ${big}: size: expected 8x8 pixels (width x height of patch:digits:200's images, shape [1, 8, 8]), got 16x12\n`);
    const colour = join(dir, 'colour.png');
    writePng(colour, 8, 8, (x) => (x === 3 ? [200, 10, 10] : [0, 0, 0]));
    const c = await iiaEdit(['--model', 'patch:digits:200', '--image', colour, '--edited', ED, '--strength', '0.5', '--steps', '8']);
    expect(c.stderr).toBe(`iia: ${colour}: colour: expected a grey image (R = G = B) for patch:digits:200, which has 1 channel; pixel (3, 0) is (200, 10, 10)\n`);
  });

  it('names missing and unreadable files with their flag', async () => {
    const missing = join(dir, 'nope.png');
    const r = await iiaEdit(['--model', 'patch:digits:200', '--image', IN, '--edited', missing, '--strength', '0.5', '--steps', '8']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`iia: ${missing}: --edited: no such file (expected a readable file)\n`);
    const text = join(dir, 'text.png');
    writeFileSync(text, 'not a png');
    const t = await iiaEdit(['--model', 'patch:digits:200', '--image', text, '--edited', ED, '--strength', '0.5', '--steps', '8']);
    expect(t.stderr).toMatch(new RegExp(`^iia: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: --image: expected a PNG image \\(`));
  });

  it('composites transparent pixels over white', async () => {
    const clear = join(dir, 'clear.png');
    writePng(clear, 8, 8, () => [0, 0, 0, 0]);
    const img = await readImagePng(clear, '--image', [1, 8, 8], 'm');
    expect(img.every((v) => v === 1)).toBe(true);
  });

  it('rejects bad flags with one line naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--model', 'patch:digits:200', ...common.slice(0, 4), '--strength', '1.5', '--steps', '8'], /^iia: --strength: expected a number in \(0, 1\], got '1.5'\n$/],
      [['--model', 'patch:digits:200', ...common.slice(0, 4), '--strength', '0.1', '--steps', '8'], /^iia: --strength: strength 0.1 of 8 steps leaves 0 steps; expected at least 1 \(raise the strength or the step count\)\n$/],
      [['--model', 'data:digits:200', ...common, '--radius', '2'], /^iia: --radius: only for patch: models/],
      [['--model', 'patch:digits:200', ...common, '--tile', '0'], /^iia: --tile: expected a positive integer, got '0'\n$/],
      [['--model', 'patch:shapes', ...common], /^iia: --model: unknown data set 'shapes'; known: digits, fashion, emoji\n$/],
      [['--model', 'patch:digits:x', ...common], /^iia: --model: expected patch:NAME\[:N\]/],
      [['--model', 'patch:digits:200', ...common, '--out', join(dir, 'o.txt')], /--out: expected a file name ending in .npy or .png/],
      [['--model', 'patch:digits:200', ...common, '--solver', 'nope'], /^iia: --solver: /],
      [['--model', 'patch:digits:200', ...common, '--dilation', '-1'], /^iia: --dilation: expected an integer >= 0, got '-1'\n$/],
    ];
    for (const [argv, want] of cases) {
      const r = await iiaEdit(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toMatch(want);
    }
    expect(existsSync(join(dir, 'o.txt'))).toBe(false);
  });
});
