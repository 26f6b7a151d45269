// Node-only file helpers for the CLI: reads that name the file in their errors, and atomic writes (temp file +
// rename via write-file-atomic), so a failed or interrupted run never leaves a partial output behind.
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { UserError, describeFsError } from './errors.js';

/** The bytes of a file; errors name the file and the flag that gave it. */
export async function readBytes(path: string, flag: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw new UserError([path, flag], `${describeFsError(err)} (expected a readable file)`, { cause: err });
  }
}

/** Parsed JSON of a file; a syntax error names the file. */
export async function readJson(path: string, flag: string): Promise<unknown> {
  const bytes = await readBytes(path, flag);
  const text = new TextDecoder('utf-8').decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UserError([path, 'json'], `expected valid JSON (${msg})`, { cause: err });
  }
}

export type OutputFormat = 'npy' | 'png';

/**
 * Check an output path before the (possibly long) run: a known extension and an existing parent directory.
 * Returns the format from the extension.
 */
export async function checkOutputPath(path: string, flag: string): Promise<OutputFormat> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.npy' && ext !== '.png') {
    throw new UserError([path, flag], `expected a file name ending in .npy or .png, got ${ext ? `'${ext}'` : 'no extension'}`);
  }
  const dir = dirname(resolve(path));
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw new UserError([path, flag], `the directory ${dir} does not exist (${describeFsError(err)})`, { cause: err });
  }
  if (!isDir) throw new UserError([path, flag], `${dir} is not a directory`);
  try {
    if ((await stat(path)).isDirectory()) throw new UserError([path, flag], 'is a directory, expected a file name');
  } catch (err) {
    if (err instanceof UserError) throw err;
    // ENOENT: fine, the file will be created.
  }
  return ext === '.npy' ? 'npy' : 'png';
}

/** Write bytes atomically: to a temp file next to `path`, fsync, rename. On failure nothing is left at `path`. */
export async function writeAtomic(path: string, data: Uint8Array | string, flag = '--out'): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  try {
    await writeFileAtomic(path, buf);
  } catch (err) {
    throw new UserError([path, flag], `could not write: ${describeFsError(err)}`, { cause: err });
  }
}
