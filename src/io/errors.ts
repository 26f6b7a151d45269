// User-facing errors: what the user got wrong, where. The CLI prints `iia: <where...>: <what was expected>` as one
// line and exits 1; anything that is not a UserError is a bug or a library error and is printed the same way, with
// the stack only when IIA_DEBUG=1.

export class UserError extends Error {
  /**
   * @param where the place of the mistake, outermost first: a file, then a field in it (or a command-line flag).
   * @param what what was expected (and what was found).
   */
  constructor(readonly where: string[], readonly what: string, options?: { cause?: unknown }) {
    super([...where, what].join(': '), options);
    this.name = 'UserError';
  }
}

/** One line for the terminal: `iia: <where>: <what>`. */
export function formatError(err: unknown): string {
  if (err instanceof UserError) return `iia: ${err.message}`;
  if (err instanceof Error) return `iia: ${firstLine(err.message || err.name)}`;
  return `iia: ${firstLine(String(err))}`;
}

/**
 * The first line of a library message, without the library's own source-file tag ("gmm.ts: ..."), which names
 * where the check lives, not what the user gave.
 */
export function firstLine(message: string): string {
  return message.split('\n')[0].replace(/^[\w.-]+\.ts: /, '');
}

/** Wrap an error from a library call with the place it came from (a flag or file), unless it already has one. */
export function withContext(where: string[], err: unknown): UserError {
  if (err instanceof UserError) return err;
  const msg = firstLine(err instanceof Error ? err.message : String(err));
  // The library often names the flag or file itself ("--solver: unknown solver ..."): do not say it twice.
  const named = where.length > 0 && (msg.startsWith(`${where[0]}: `) || msg.startsWith(`${where[0]} `));
  return new UserError(named ? [] : where, msg, { cause: err });
}

/** Node file-system error codes -> words. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, expected a file';
    case 'ENOTDIR':
      return 'a parent of this path is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
