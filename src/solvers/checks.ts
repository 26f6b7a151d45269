// Checks every solver shares: options by name (a typo must not pass silently), option types, and the grid.
import type { GridPoint } from '../schedules/schedule.js';

/** Throws when `options` has a key the solver does not know (a typo must not pass silently). */
export function checkOptionKeys(solver: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined || options === null) return;
  for (const key of Object.keys(options)) {
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    if (!known.includes(key)) {
      throw new Error(`${solver}: unknown option '${key}'; expected one of ${known.map((k) => `'${k}'`).join(', ') || '(none)'}`);
    }
  }
}

export function checkBooleanOption(solver: string, field: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') throw new Error(`${solver}: option ${field} is ${String(v)}; expected true or false`);
}

export function checkIntegerOption(solver: string, field: string, v: unknown, lo: number, hi: number): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi)) {
    throw new Error(`${solver}: option ${field} is ${String(v)}; expected an integer in [${lo}, ${hi}]`);
  }
}

/**
 * Checks a grid for a multistep solver: at least 2 points, finite sigmas >= 0, non-increasing, only the last point
 * may be 0, and a repeated sigma only as the final step (diffusers' DEIS/UniPC Karras grids end with one).
 */
export function checkGrid(solver: string, grid: readonly GridPoint[]): void {
  if (grid.length < 2) throw new Error(`${solver}: grid has ${grid.length} points; expected at least 2 (one step)`);
  for (let i = 0; i < grid.length; i++) {
    const s = grid[i].sigma;
    if (!(Number.isFinite(s) && s >= 0)) throw new Error(`${solver}: grid[${i}].sigma is ${s}; expected a finite number >= 0`);
    if (s === 0 && i < grid.length - 1) throw new Error(`${solver}: grid[${i}].sigma is 0; only the last point may have sigma 0`);
    if (!(grid[i].alpha > 0)) throw new Error(`${solver}: grid[${i}].alpha is ${grid[i].alpha}; expected a number > 0`);
    if (i > 0) {
      const prev = grid[i - 1].sigma;
      const last = i === grid.length - 1;
      if (!(s < prev || (last && s === prev))) {
        throw new Error(`${solver}: grid sigma is not decreasing at point ${i} (${prev} then ${s}); expected strictly decreasing sigmas (a repeat only as the final step)`);
      }
    }
  }
}
