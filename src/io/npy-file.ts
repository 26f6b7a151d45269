// .npy files for the CLI: read as float32 with errors that name the file, write atomically.
import { npyToFloat32, parseNpy, toNpy } from '../core/npy.js';
import type { Batch } from '../core/batch.js';
import { UserError, firstLine } from './errors.js';
import { readBytes, writeAtomic } from './files.js';

/** Read a .npy file (any numeric dtype numpy writes) as float32 with its shape. */
export async function readNpyFile(path: string, flag: string): Promise<Batch> {
  const bytes = await readBytes(path, flag);
  try {
    const parsed = parseNpy(bytes, path);
    const data = npyToFloat32(parsed, path);
    return { data, shape: [...parsed.shape] };
  } catch (err) {
    const msg = firstLine(err instanceof Error ? err.message : String(err));
    // The npy reader names the file itself; add it only when it does not.
    throw new UserError(msg.includes(path) ? [] : [path], msg, { cause: err });
  }
}

export async function writeNpyFile(path: string, batch: Batch, flag = '--out'): Promise<void> {
  await writeAtomic(path, toNpy(batch.data, batch.shape), flag);
}
