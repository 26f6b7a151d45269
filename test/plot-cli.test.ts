// `iia plot error | residuals | grid` in-process: outputs (SVG text, PNG that decodes to the reported size), one-line
// errors naming the file and field, nothing written on failure.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCellFlag } from '../src/cli/plot.js';
import { iia, tempDir, writeNpy, type RunResult } from './cli-helpers.js';

/** `iia plot ...` through the real CLI (src/cli/main.ts run()), in-process. */
const plot = (argv: string[]): Promise<RunResult> => iia(['plot', ...argv]);

const dir = tempDir('iia-plot-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (f: string): string => join(dir, f);

const records = ['heun', 'dpm-solver++2m', 'iia-edm'].flatMap((solver, s) =>
  [5, 7, 10, 15].map((nfe) => ({ model: 'gmm:gmm-2d', solver, steps: nfe, nfe, n: 64, seed: 0, stochastic: false, calibration_seed: null, rmse: (s + 1) / nfe ** 2, median_error: 0.8 / nfe, max_error: 2 / nfe, seconds: 0.01 })),
);
writeFileSync(at('eval.json'), JSON.stringify({ model: 'gmm:gmm-2d', n: 64, seed: 0, reference: {}, records }));
writeFileSync(at('eval-array.json'), JSON.stringify(records.slice(0, 4).map((r) => ({ ...r, model: 'data:digits' }))));

describe('iia plot error', () => {
  it('writes an SVG with the solver names and the log axes', async () => {
    const r = await plot(['error', '--in', at('eval.json'), '--metric', 'median_error', '--out', at('e.svg')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^median_error vs nfe: 3 solver\(s\), 12 points -> .*e\.svg \(\d+ x \d+ px\)\n$/);
    const svg = readFileSync(at('e.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const s of ['heun', 'dpm-solver++2m', 'iia-edm']) expect(svg.includes(`>${s}</text>`), s).toBe(true);
    expect(svg).toContain('median per-sample RMS error');
    // NFE ticks 5, 7, 10, 15 on a log axis: log-spaced label positions.
    const xs = Object.fromEntries(
      [...svg.matchAll(/<text text-anchor="middle" transform="translate\(([\d.]+),\d+\)"[^>]*>(5|7|10|15)<\/text>/g)].map((m) => [m[2], Number(m[1])]),
    );
    expect((xs['10'] - xs['5']) / (xs['15'] - xs['5'])).toBeCloseTo(Math.log(2) / Math.log(3), 3);
  });

  it('writes a PNG of the reported size, several files, --solver order, --json', async () => {
    const out = at('e.png');
    const r = await plot(['error', '--in', at('eval.json'), '--in', at('eval-array.json'), '--solver', 'iia-edm,heun', '--scale', '1.5', '--json', '--out', out]);
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ out, format: 'png', metric: 'rmse', solvers: ['iia-edm', 'heun'], points: 12, skipped: 0 }); // heun: 4 records in each file
    const img = PNG.sync.read(readFileSync(out));
    expect([img.width, img.height]).toEqual([summary.width, summary.height]);
    let coloured = 0;
    for (let p = 0; p < img.data.length; p += 4) {
      const [R, G, B] = [img.data[p], img.data[p + 1], img.data[p + 2]];
      if (Math.max(R, G, B) - Math.min(R, G, B) > 60) coloured++;
    }
    expect(coloured).toBeGreaterThan(500); // the coloured lines and markers
  });

  it('names the file and the field of bad input, and writes nothing', async () => {
    const bad = structuredClone(records) as Record<string, unknown>[];
    bad[6].rmse = 'n/a';
    writeFileSync(at('bad.json'), JSON.stringify({ records: bad }));
    const out = at('never.png');
    let r = await plot(['error', '--in', at('bad.json'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`iia: ${at('bad.json')}: records[6]: rmse: expected a finite number, got string "n/a"\n`);
    writeFileSync(at('notjson.json'), '{"records": [');
    r = await plot(['error', '--in', at('notjson.json'), '--out', out]);
    expect(r.stderr).toMatch(new RegExp(`^iia: ${at('notjson.json')}: json: expected valid JSON`));
    writeFileSync(at('obj.json'), JSON.stringify({ rows: [] }));
    r = await plot(['error', '--in', at('obj.json'), '--out', out]);
    expect(r.stderr).toContain(`iia: ${at('obj.json')}: expected eval output: an object with a "records" array`);
    r = await plot(['error', '--in', at('missing.json'), '--out', out]);
    expect(r.stderr).toBe(`iia: ${at('missing.json')}: --in: no such file (expected a readable file)\n`);
    r = await plot(['error', '--in', at('eval.json'), '--metric', 'fid', '--out', out]);
    expect(r.stderr).toMatch(/: fid: no record has this field; numeric fields of records\[0\]: steps, nfe/);
    r = await plot(['error', '--in', at('eval.json'), '--out', at('e.jpg')]);
    expect(r.stderr).toBe(`iia: ${at('e.jpg')}: --out: expected a file name ending in .svg or .png, got '.jpg'\n`);
    r = await plot(['error', '--in', at('eval.json'), '--out', join(dir, 'no-such-dir', 'e.png')]);
    expect(r.stderr).toMatch(/--out: the directory .* does not exist/);
    r = await plot(['error', '--in', at('eval.json'), '--model', 'data:emoji', '--out', out]);
    expect(r.stderr).toBe("iia: --model: no record of 'data:emoji'; the files hold gmm:gmm-2d\n");
    r = await plot(['error', '--in', at('eval.json'), '--x', 'sigma', '--out', out]);
    expect(r.stderr).toBe("iia: --x: expected one of nfe, steps, got 'sigma'\n");
    r = await plot(['error', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--in <file.json>'/);
    expect(existsSync(out)).toBe(false);
    // Atomic writes leave no temp files behind.
    expect(readdirSync(dir).filter((f) => !/\.(json|svg|png|npy)$/.test(f) && f !== 'sub')).toEqual([]);
  });
});

describe('iia plot residuals', () => {
  const file = {
    format: 'iia-coefficients',
    schemaVersion: 1,
    solver: 'iia-edm',
    baseSolver: 'heun',
    model: { name: 'gmm:gmm-2d', fingerprint: 'sha256:' + '0'.repeat(64) },
    steps: 3,
    coefficients: [80, 5, 0.3].map((sigma, i) => ({
      step: i,
      sigma,
      sigmaNext: [5, 0.3, 0][i],
      residual: { calibration: { before: 0.5 / (i + 1), after: 0.01 / (i + 1) }, heldOut: null },
    })),
  };
  writeFileSync(at('coeffs.json'), JSON.stringify(file));

  it('writes the figure from a coefficient file', async () => {
    const r = await plot(['residuals', '--coeffs', at('coeffs.json'), '--out', at('r.svg'), '--title', 'Heun, 3 steps']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/residuals before\/after IIA: 6 points -> .*r\.svg/);
    const svg = readFileSync(at('r.svg'), 'utf8');
    for (const t of ['>Heun, 3 steps</text>', '>IIA coefficients</text>', '>default coefficients (base solver)</text>', '>σ 80</tspan>']) {
      expect(svg.includes(t), t).toBe(true);
    }
    const r2 = await plot(['residuals', '--coeffs', at('coeffs.json'), '--out', at('r.png'), '--scale', '1']);
    expect(r2.code).toBe(0);
    const img = PNG.sync.read(readFileSync(at('r.png')));
    expect(r2.stdout).toContain(`(${img.width} x ${img.height} px)`);
  });

  it('names the file and the step of a bad entry', async () => {
    const bad = structuredClone(file);
    (bad.coefficients[1].residual.calibration as Record<string, unknown>).after = -Infinity;
    writeFileSync(at('bad-coeffs.json'), JSON.stringify(bad).replace('null', '"x"'));
    const r = await plot(['residuals', '--coeffs', at('bad-coeffs.json'), '--out', at('never.svg')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`iia: ${at('bad-coeffs.json')}: coefficients[0].residual.heldOut: expected {before, after}, got string "x"\n`);
    expect(existsSync(at('never.svg'))).toBe(false);
  });
});

describe('iia plot grid', () => {
  // Two solvers x two NFE, 3 samples of [1, 8, 8] each; the pixel value encodes solver and NFE.
  const files: Record<string, number> = { 'heun-5': -1, 'heun-9': -0.5, 'ddim-5': 0.5, 'ddim-10': 1 };
  mkdirSync(at('sub'), { recursive: true });
  for (const [name, v] of Object.entries(files)) writeNpy(at(`sub/${name}.npy`), new Float32Array(3 * 64).fill(v), [3, 1, 8, 8]);
  writeFileSync(
    at('sub/cells.json'),
    JSON.stringify([
      { solver: 'heun', nfe: 5, file: 'heun-5.npy' },
      { solver: 'heun', nfe: 9, nfe_budget: 10, file: 'heun-9.npy' },
      { solver: 'ddim', nfe: 5, file: 'ddim-5.npy' },
    ]),
  );

  it('writes a PNG grid from a cell list and --cell flags', async () => {
    const out = at('grid.png');
    const r = await plot(['grid', '--in', at('sub/cells.json'), '--cell', `ddim:10=${at('sub/ddim-10.npy')}`, '--index', '0,2', '--json', '--out', out]);
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ format: 'png', rows: ['heun', 'ddim'], columns: [5, 10] });
    const img = PNG.sync.read(readFileSync(out));
    expect([img.width, img.height]).toEqual([summary.width, summary.height]);
    // Every grey level of the four files appears (as 8x8 blocks scaled up, so in many pixels).
    const counts = new Map<number, number>();
    for (let p = 0; p < img.data.length; p += 4) if (img.data[p] === img.data[p + 1]) counts.set(img.data[p], (counts.get(img.data[p]) ?? 0) + 1);
    for (const v of Object.values(files)) expect(counts.get(Math.round(((v + 1) / 2) * 255)) ?? 0).toBeGreaterThan(2 * 64 * 64);
  });

  it('writes a self-contained SVG', async () => {
    const r = await plot(['grid', '--cell', `heun:5=${at('sub/heun-5.npy')}`, '--reference', at('sub/ddim-10.npy'), '--out', at('grid.svg')]);
    expect(r.code).toBe(0);
    const svg = readFileSync(at('grid.svg'), 'utf8');
    expect(svg).toContain('>NFE 5</text>');
    expect(svg).toContain('>reference</text>');
    expect(svg.match(/xlink:href="data:image\/png;base64,/g)).toHaveLength(2);
  });

  it('names the file of a bad cell', async () => {
    writeNpy(at('sub/other.npy'), new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    writeNpy(at('sub/flat.npy'), new Float32Array(6), [3, 2]);
    let r = await plot(['grid', '--cell', `heun:5=${at('sub/heun-5.npy')}`, '--cell', `ddim:5=${at('sub/other.npy')}`, '--out', at('never.png')]);
    expect(r.stderr).toBe(`iia: ${at('sub/other.npy')}: shape: expected samples of shape [1, 8, 8] like the other files, got [3, 4, 4]\n`);
    r = await plot(['grid', '--cell', `heun:5=${at('sub/flat.npy')}`, '--out', at('never.png')]);
    expect(r.stderr).toBe(`iia: ${at('sub/flat.npy')}: shape: expected images [n, C, H, W] (C = 1 or 3) or [n, H, W], got [3, 2]\n`);
    r = await plot(['grid', '--cell', `heun:5=${at('sub/heun-5.npy')}`, '--index', '3', '--out', at('never.png')]);
    expect(r.stderr).toBe(`iia: ${at('sub/heun-5.npy')}: --index: sample 3 does not exist: the file holds 3 sample(s)\n`);
    r = await plot(['grid', '--cell', `heun:5=${at('sub/nope.npy')}`, '--out', at('never.png')]);
    expect(r.stderr).toBe(`iia: ${at('sub/nope.npy')}: --cell: no such file (expected a readable file)\n`);
    r = await plot(['grid', '--cell', 'heun=x.npy', '--out', at('never.png')]);
    expect(r.stderr).toBe("iia: --cell: expected SOLVER:NFE=FILE.npy (e.g. heun:11=heun-11.npy), got 'heun=x.npy'\n");
    writeFileSync(at('sub/bad-cells.json'), JSON.stringify([{ solver: 'heun', nfe: 5, file: 'heun-5.npy' }, { solver: 'ddim', nfe: 'five', file: 'x.npy' }]));
    r = await plot(['grid', '--in', at('sub/bad-cells.json'), '--out', at('never.png')]);
    expect(r.stderr).toBe(`iia: ${at('sub/bad-cells.json')}: [1]: nfe: expected a positive integer, got string "five"\n`);
    r = await plot(['grid', '--cell', `heun:5=${at('sub/heun-5.npy')}`, '--cell', `heun:5=${at('sub/heun-9.npy')}`, '--out', at('never.png')]);
    expect(r.stderr).toMatch(/heun-9\.npy: a second cell for heun at 5/);
    r = await plot(['grid', '--out', at('never.png')]);
    expect(r.stderr).toBe('iia: --cell: expected cells: give --in FILE.json or --cell SOLVER:NFE=FILE.npy (repeatable)\n');
    expect(existsSync(at('never.png'))).toBe(false);
  });

  it('parses --cell with solver names that hold colons', () => {
    expect(parseCellFlag('iia:dpm-solver++2m:10=a=b.npy')).toEqual({ solver: 'iia:dpm-solver++2m', nfe: 10, file: 'a=b.npy' });
  });
});
