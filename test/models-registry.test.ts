import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBatch } from '../src/core/batch.js';
import { listEmbeddedModels, loadModel } from '../src/models/registry.js';

describe('model registry', () => {
  it('loads gmm: files and the shipped examples by name', async () => {
    const a = await loadModel('gmm:examples/gmm-2d.json');
    expect(a.info).toMatchObject({ kind: 'gmm', count: 8, shape: [2], defaultSchedule: 'edm' });
    const b = await loadModel('gmm:gmm-64d');
    expect(b.info).toMatchObject({ kind: 'gmm', count: 10, shape: [1, 8, 8] });
    const p = await b.denoiser.predict(makeBatch([1, 1, 8, 8]), { sigma: 1, t: 1, alpha: 1 });
    expect(p.x0.length).toBe(64);
  });

  it('names the file and field of an invalid mixture', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iia-gmm-'));
    const f = join(dir, 'm.json');
    writeFileSync(f, JSON.stringify({ weights: [0.5, 0.5], means: [[0], [1, 2]], stds: [1, 1] }));
    await expect(loadModel(`gmm:${f}`)).rejects.toThrow(new RegExp(`gmm.ts: invalid mixture in '${f}': means\\.1: expected length D = 1`));
    writeFileSync(f, '{ not json');
    await expect(loadModel(`gmm:${f}`)).rejects.toThrow(/cannot read mixture file .* as JSON/);
    await expect(loadModel('gmm:nope.json')).rejects.toThrow(/mixture file 'nope.json' not found \(shipped examples: gmm-2d, gmm-64d\)/);
  });

  it('loads data: sets with N and both back-ends, with labels', async () => {
    const m = await loadModel('data:digits:100', { backend: 'ts' });
    expect(m.info).toMatchObject({ name: 'data:digits:100', kind: 'data', count: 100, shape: [1, 8, 8], defaultSchedule: 'edm' });
    expect(m.info.labels!.length).toBe(100);
    const o = await loadModel('data:digits:100', { threads: 1 });
    const y = makeBatch([2, 1, 8, 8], Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)));
    const a = await m.denoiser.predict(y, { sigma: 0.7, t: 0.7, alpha: 1 });
    const b = await o.denoiser.predict(y, { sigma: 0.7, t: 0.7, alpha: 1 });
    for (let i = 0; i < 128; i++) expect(Math.abs(a.x0[i] - b.x0[i])).toBeLessThan(1e-4);
    await o.denoiser.dispose!();
  });

  it('rejects bad data: specs with the allowed values', async () => {
    await expect(loadModel('data:mnist')).rejects.toThrow(/unknown data set 'mnist'; known: digits, fashion, emoji/);
    await expect(loadModel('data:digits:0')).rejects.toThrow(/allowed 1\.\.1797/);
    await expect(loadModel('data:fashion:2001')).rejects.toThrow(/allowed 1\.\.2000/);
    await expect(loadModel('data:digits:abc')).rejects.toThrow(/must be an integer in 1\.\.1797, got 'abc'/);
    await expect(loadModel('data:digits:1:2')).rejects.toThrow(/too many parts/);
  });

  it('loads onnx: models (the dummy UNet fixture) with a VP default schedule', async () => {
    const m = await loadModel('onnx:test/fixtures/models/dummy-unet.onnx', { sampleShape: [1, 2, 2], prediction: 'sample', threads: 1 });
    expect(m.info).toMatchObject({ kind: 'onnx', shape: [1, 2, 2], defaultSchedule: 'vp-discrete' });
    const p = await m.denoiser.predict(makeBatch([1, 1, 2, 2], Float32Array.of(1, 2, 3, 4)), { sigma: 0.5, t: 3, alpha: 1 });
    expect(Array.from(p.x0)).toEqual([0.75, 1.5, 2.25, 3]);
    await m.denoiser.dispose!();
    await expect(loadModel('onnx:missing.onnx')).rejects.toThrow(/model file 'missing.onnx' not found/);
  });

  it('lists the valid forms for a bad prefix or a missing argument', async () => {
    await expect(loadModel('hf:foo')).rejects.toThrow(/no valid prefix; valid forms: gmm:FILE.json .*data:NAME\[:N\].*onnx:FILE.onnx/);
    await expect(loadModel('digits')).rejects.toThrow(/valid forms/);
    await expect(loadModel('data:')).rejects.toThrow(/missing its argument/);
    await expect(loadModel('data:digits', { cond: { data: new Float32Array(1), shape: [1] } })).rejects.toThrow(/takes no cond/);
  });

  it('lists the embedded models', () => {
    const list = listEmbeddedModels();
    expect(list.map((m) => m.name)).toEqual(['data:digits', 'data:fashion', 'data:emoji', 'gmm:gmm-2d', 'gmm:gmm-64d']);
    expect(list[2]).toMatchObject({ kind: 'data', count: 1897, shape: [3, 32, 32] });
  });
});
