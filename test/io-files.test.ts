import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError, formatError } from '../src/io/errors.js';
import { checkOutputPath, readJson, writeAtomic } from '../src/io/files.js';

const dir = mkdtempSync(join(tmpdir(), 'iia-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('formatError', () => {
  it('is one line: iia: <file>: <field>: <expected>', () => {
    expect(formatError(new UserError(['x.npy', 'shape'], 'expected [4, 2], got [3]'))).toBe('iia: x.npy: shape: expected [4, 2], got [3]');
    expect(formatError(new Error('first\nsecond'))).toBe('iia: first');
  });
});

describe('readJson', () => {
  it('names a missing file and the flag', async () => {
    const p = join(dir, 'missing.json');
    await expect(readJson(p, '--scheduler-config')).rejects.toThrow(`${p}: --scheduler-config: no such file`);
  });
  it('names the file on a syntax error', async () => {
    const p = join(dir, 'bad.json');
    writeFileSync(p, '{"a": 1,');
    await expect(readJson(p, '--scheduler-config')).rejects.toThrow(`${p}: json: expected valid JSON`);
  });
  it('parses good JSON', async () => {
    const p = join(dir, 'good.json');
    writeFileSync(p, '{"a": [1, 2]}');
    expect(await readJson(p, '--x')).toEqual({ a: [1, 2] });
  });
});

describe('checkOutputPath', () => {
  it('takes the format from the extension', async () => {
    expect(await checkOutputPath(join(dir, 'a.npy'), '--out')).toBe('npy');
    expect(await checkOutputPath(join(dir, 'a.PNG'), '--out')).toBe('png');
  });
  it('refuses unknown extensions, missing directories and directories', async () => {
    await expect(checkOutputPath(join(dir, 'a.txt'), '--out')).rejects.toThrow(/--out: expected a file name ending in .npy or .png/);
    await expect(checkOutputPath(join(dir, 'nope', 'a.npy'), '--out')).rejects.toThrow(/does not exist/);
    mkdirSync(join(dir, 'd.npy'));
    await expect(checkOutputPath(join(dir, 'd.npy'), '--out')).rejects.toThrow(/is a directory/);
  });
});

describe('writeAtomic', () => {
  it('writes the bytes and leaves no temp file', async () => {
    const sub = join(dir, 'w');
    mkdirSync(sub);
    const p = join(sub, 'out.npy');
    await writeAtomic(p, new Uint8Array([1, 2, 3]).subarray(1));
    expect(Array.from(readFileSync(p))).toEqual([2, 3]);
    expect(readdirSync(sub)).toEqual(['out.npy']);
  });
  it('fails with the file named and leaves nothing behind', async () => {
    const p = join(dir, 'no-such-dir', 'out.npy');
    await expect(writeAtomic(p, 'x')).rejects.toThrow(`${p}: --out: could not write`);
  });
});
