// The small least-squares problems of IIA calibration, in float64: accumulate the Gram matrix G = U^T U and
// b = U^T r of k direction vectors over a batch, then solve min_delta ||U delta - r||^2 + lambda ||S^-1 delta||^2
// (S = diag(G)^-1/2, so lambda is relative to each direction's own size) by a Cholesky factorisation of the
// Jacobi-scaled normal equations. A direction (nearly) in the span of the ones before it is dropped (its
// coefficient kept at the default) instead of being solved for: near sigma -> 0 the directions shrink and become
// nearly parallel, and a tiny pivot there is what turns a naive fit into a step worse than the default.

/** Gram matrix G_jl = <u_j, u_l> and b_j = <u_j, r>, summed in float64. */
export function normalEquations(dirs: readonly ArrayLike<number>[], r: ArrayLike<number>): { G: number[][]; b: number[] } {
  const k = dirs.length;
  const G = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const b = new Array<number>(k).fill(0);
  const n = r.length;
  for (let j = 0; j < k; j++) {
    const uj = dirs[j];
    let sb = 0;
    for (let i = 0; i < n; i++) sb += uj[i] * r[i];
    b[j] = sb;
    for (let l = 0; l <= j; l++) {
      const ul = dirs[l];
      let s = 0;
      for (let i = 0; i < n; i++) s += uj[i] * ul[i];
      G[j][l] = s;
      G[l][j] = s;
    }
  }
  return { G, b };
}

/** Add another batch's normal equations into (G, b). */
export function addNormalEquations(into: { G: number[][]; b: number[] }, more: { G: number[][]; b: number[] }): void {
  for (let j = 0; j < into.b.length; j++) {
    into.b[j] += more.b[j];
    for (let l = 0; l < into.b.length; l++) into.G[j][l] += more.G[j][l];
  }
}

/**
 * Pivot threshold of the scaled Cholesky factorisation: a direction whose part orthogonal to the directions kept
 * before it has less than this fraction of its squared length (an angle below ~1e-5 rad) is dropped.
 */
export const DEPENDENT_DIRECTION = 1e-10;

/**
 * delta minimising ||U delta - r||^2 + lambda sum_j G_jj delta_j^2 (ridge towards the default, delta = 0, relative
 * to each direction's size). Directions with G_jj = 0 or dependent on earlier ones get delta_j = 0.
 */
export function solveRidge(G: readonly (readonly number[])[], b: readonly number[], lambda: number): number[] {
  const k = b.length;
  const delta = new Array<number>(k).fill(0);
  const scale = G.map((row, j) => (row[j] > 0 && Number.isFinite(row[j]) ? 1 / Math.sqrt(row[j]) : 0));
  // Columns kept so far and the Cholesky factor L of their scaled, ridged Gram matrix (row-wise, lower triangle).
  const kept: number[] = [];
  const L: number[][] = [];
  for (let j = 0; j < k; j++) {
    if (scale[j] === 0) continue;
    // New row of L: solve L_kept l = g (g = scaled Gram column j restricted to kept), pivot = 1 + lambda - |l|^2.
    const row: number[] = [];
    for (let a = 0; a < kept.length; a++) {
      let s = G[j][kept[a]] * scale[j] * scale[kept[a]];
      for (let c = 0; c < a; c++) s -= row[c] * L[a][c];
      row.push(s / L[a][a]);
    }
    let pivot = 1 + lambda;
    for (const v of row) pivot -= v * v;
    // Without ridge the pivot is the squared sine of the angle between u_j and the span of the kept directions.
    if (!(pivot > DEPENDENT_DIRECTION * (1 + lambda))) continue;
    row.push(Math.sqrt(pivot));
    L.push(row);
    kept.push(j);
  }
  if (kept.length === 0) return delta;
  // Forward and back substitution on the scaled system (L L^T) z = S b, then delta = S z.
  const n = kept.length;
  const z = new Array<number>(n).fill(0);
  for (let a = 0; a < n; a++) {
    let s = b[kept[a]] * scale[kept[a]];
    for (let c = 0; c < a; c++) s -= L[a][c] * z[c];
    z[a] = s / L[a][a];
  }
  for (let a = n - 1; a >= 0; a--) {
    let s = z[a];
    for (let c = a + 1; c < n; c++) s -= L[c][a] * z[c];
    z[a] = s / L[a][a];
  }
  kept.forEach((j, a) => (delta[j] = z[a] * scale[j]));
  return delta;
}
