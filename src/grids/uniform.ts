// Grids evenly spaced in the model's time t, in lambda = -log(sigma), or quadratically in t.

/** n values of t evenly spaced from tMax down to tMin (n = 1: [tMax]). */
export function uniformTimes(n: number, tMin: number, tMax: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? tMax : tMax + (i / (n - 1)) * (tMin - tMax)));
}

/**
 * n sigmas evenly spaced in lambda = -log(sigma) (Lu et al. 2022, DPM-Solver, Sec. 3.3 "uniform logSNR" step
 * size schedule) from sigmaMax down to sigmaMin.
 */
export function uniformLambdaSigmas(n: number, sigmaMin: number, sigmaMax: number): number[] {
  const l0 = -Math.log(sigmaMax), l1 = -Math.log(sigmaMin);
  const out = Array.from({ length: n }, (_, i) => (n === 1 ? sigmaMax : Math.exp(-(l0 + (i / (n - 1)) * (l1 - l0)))));
  out[0] = sigmaMax;
  if (n > 1) out[n - 1] = sigmaMin;
  return out;
}

/**
 * DDIM's "quad" time spacing (Song et al. 2021, DDIM, Appendix D.2): t = tMin + (tMax - tMin) * u^2 with u evenly
 * spaced from 1 down to 0, n values.
 */
export function quadraticTimes(n: number, tMin: number, tMax: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    if (n === 1) return tMax;
    const u = 1 - i / (n - 1);
    return tMin + (tMax - tMin) * u * u;
  });
}
