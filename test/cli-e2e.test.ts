// The CLI as a process (through tsx, so no build is needed): exit codes, one-line errors without stacks, and
// Ctrl-C (SIGINT) aborting a run with exit 130 and no output.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { normalBatch } from '../src/core/rng.js';
import { readNpy, tempDir, writeNpy } from './cli-helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
const dir = tempDir('iia-e2e-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const G = join(dir, 'G.json');
writeFileSync(G, JSON.stringify({ weights: [0.5, 0.5], means: [[1, 1], [-1, -1]], stds: [0.2, 0.4] }));

function iiaProcess(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env, IIA_DEBUG: env.IIA_DEBUG ?? '' },
    timeout: 30_000,
  });
}

describe('iia as a process', () => {
  it('runs the contract and exits 0; errors exit 1 on one line, usage errors 2', () => {
    const X = join(dir, 'X.npy');
    writeNpy(X, normalBatch(1, 0, 4, 2, 80), [4, 2]);
    const Y = join(dir, 'Y.npy');
    const ok = iiaProcess(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', '6', '--noise', X, '--out', Y, '--json']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ steps: 6, nfe: 11, n: 4 });
    expect(readNpy(Y).shape).toEqual([4, 2]);

    const bad = iiaProcess(['sample', '--model', `gmm:${G}`, '--solver', 'heun', '--steps', 'x']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("iia: --steps: expected a positive integer, got 'x'\n");

    const usage = iiaProcess(['sample', '--model', `gmm:${G}`, '--bogus']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^iia: unknown option '--bogus'/);
  }, 60_000);

  it('Ctrl-C aborts a long run: exit 130, no output, no temp file', async () => {
    const D = 64, K = 10;
    const means = Array.from({ length: K }, (_, k) => Array.from({ length: D }, (_, j) => Math.sin(k + j)));
    const big = join(dir, 'big.json');
    writeFileSync(big, JSON.stringify({ weights: Array(K).fill(1 / K), means, stds: Array(K).fill(0.3) }));
    const out = join(dir, 'interrupted.npy');
    // Uninterrupted this would take minutes; the debug line says the run is about to start.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', main, 'sample', '--model', `gmm:${big}`, '--solver', 'heun', '--steps', '2000', '--n', '20000', '--out', out],
      { cwd: root, env: { ...process.env, IIA_DEBUG: '1' } },
    );
    let stderr = '';
    const started = Date.now();
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        stderr += String(d);
        if (stderr.includes('iia: debug:')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before starting: ${stderr}`)));
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const { code, signal } = await exit;
    expect(signal).toBeNull();
    expect(code).toBe(130);
    expect(stderr).toContain('iia: interrupted; no output written');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('interrupted'))).toEqual([]);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);
});
