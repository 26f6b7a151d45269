// Parsing of flag values. Every bad value is a UserError naming the flag and what was expected.
import { UserError } from '../io/errors.js';

export function parsePositiveInt(flag: string, value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!/^\+?\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
    throw new UserError([flag], `expected a positive integer, got '${value}'`);
  }
  return n;
}

export function parseUint32(flag: string, value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!/^\+?\d+$/.test(v) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new UserError([flag], `expected an integer in [0, 4294967295], got '${value}'`);
  }
  return n;
}

export function parsePositiveNumber(flag: string, value: string): number {
  const v = value.trim();
  const n = v === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UserError([flag], `expected a positive number, got '${value}'`);
  return n;
}

export function parseNonNegativeNumber(flag: string, value: string): number {
  const v = value.trim();
  const n = v === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UserError([flag], `expected a non-negative number, got '${value}'`);
  return n;
}

/** A comma-separated list of numbers (`--sigmas 80,10,1,0`). */
export function parseNumberList(flag: string, value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = p === '' ? NaN : Number(p);
    if (!Number.isFinite(n)) throw new UserError([flag], `expected comma-separated numbers like 80,10,1,0, got '${value}'`);
    out.push(n);
  }
  return out;
}

export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UserError([flag], `expected one of ${choices.join(', ')}, got '${value}'`);
}

/** A solver option value: numbers and booleans are parsed, anything else stays a string. */
export function parseOptionValue(raw: string): unknown {
  const v = raw.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'null') return null;
  if (v !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?Infinity$/.test(v)) return Number(v);
  return raw;
}

/** Repeated `--option key=value` -> an options object. */
export function parseSolverOptions(pairs: readonly string[], flag = '--option'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (eq < 0 || key === '' || !/^[A-Za-z_][\w.-]*$/.test(key)) {
      throw new UserError([flag], `expected key=value (e.g. eta=1 or lowerOrderFinal=true), got '${pair}'`);
    }
    if (Object.prototype.hasOwnProperty.call(out, key)) {
      throw new UserError([flag], `option '${key}' given twice`);
    }
    out[key] = parseOptionValue(pair.slice(eq + 1));
  }
  return out;
}

/** A sample shape like `3,32,32` (positive integers). */
export function parseShape(flag: string, value: string): number[] {
  const parts = value.split(/[,x×]/).map((t) => t.trim());
  const out = parts.map((t) => Number(t));
  if (parts.some((t) => !/^\d+$/.test(t)) || out.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new UserError([flag], `expected positive integers separated by commas, like 3,32,32, got '${value}'`);
  }
  return out;
}
