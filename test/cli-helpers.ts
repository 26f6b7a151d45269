// Helpers of the CLI tests: an in-process runner with captured output, and a tiny independent .npy reader/writer
// (so the tests check the CLI's files against the format, not against our own npy module).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type CliIO } from '../src/cli/main.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function iia(argv: string[], extra: Partial<CliIO> = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    isTTY: false,
    env: {},
    ...extra,
  });
  return { code, stdout, stderr };
}

export function tempDir(prefix = 'iia-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write a little-endian float32 (or float64) C-order .npy file, format version 1.0. */
export function writeNpy(path: string, data: ArrayLike<number>, shape: number[], dtype: '<f4' | '<f8' = '<f4'): void {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = dtype === '<f4' ? Buffer.from(Float32Array.from(data).buffer) : Buffer.from(Float64Array.from(data).buffer);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

/** Read a float32 .npy file (version 1 or 2). */
export function readNpy(path: string): { data: Float32Array; shape: number[]; descr: string } {
  const buf = readFileSync(path);
  if (buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${path}: not an npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + hlen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)![1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (descr !== '<f4') throw new Error(`${path}: expected <f4, got ${descr}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: fortran order`);
  const off = start + hlen;
  const bytes = buf.subarray(off);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { data, shape, descr };
}
