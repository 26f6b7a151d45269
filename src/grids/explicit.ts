// A grid from a user-given list of sigmas.

/** Checks a user-given sigma list: at least 2 values, finite, >= 0, strictly decreasing. Names what is wrong. */
export function checkExplicitSigmas(values: readonly number[], where = 'explicit grid'): void {
  if (!Array.isArray(values)) throw new Error(`${where}: values is ${typeof values}; expected a list of sigmas`);
  if (values.length < 2) throw new Error(`${where}: values has ${values.length} sigma(s); expected at least 2 (steps + 1 points)`);
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: values[${i}] is ${v}; expected a finite number`);
    if (v < 0) throw new Error(`${where}: values[${i}] is ${v}; expected a sigma >= 0`);
    if (i > 0 && !(v < values[i - 1])) {
      throw new Error(`${where}: values[${i}] is ${v} after values[${i - 1}] = ${values[i - 1]}; expected strictly decreasing sigmas`);
    }
  });
}
