// Small dense float64 linear algebra for the distribution metrics: means, covariances, the symmetric
// eigendecomposition (cyclic Jacobi) and the trace of a matrix square root. Browser-safe.

/** Column means of an n x d row-major matrix. */
export function columnMeans(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mu[j] /= n;
  return mu;
}

/** Unbiased covariance (divisor n - 1, as numpy.cov) of an n x d row-major matrix, d x d row-major. */
export function covariance(x: ArrayLike<number>, n: number, d: number, mu = columnMeans(x, n, d)): Float64Array {
  if (n < 2) throw new Error(`linalg.ts: a covariance needs at least 2 samples, got ${n}`);
  const c = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mu[j];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const o = a * d;
      for (let b = a; b < d; b++) c[o + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = c[a * d + b] / (n - 1);
      c[a * d + b] = v;
      c[b * d + a] = v;
    }
  }
  return c;
}

/**
 * Eigenvalues and eigenvectors of a symmetric d x d matrix by the cyclic Jacobi method (Golub & Van Loan, "Matrix
 * Computations", 4th ed., Algorithms 8.5.1 sym.schur2 and 8.5.3): A = V diag(values) V^T, column k of V (row-major
 * V[i * d + k]) the k-th eigenvector. Accurate to a few ulps of |A| for the small matrices used here (d ~ 64).
 */
export function symmetricEigen(m: ArrayLike<number>, d: number): { values: Float64Array; vectors: Float64Array } {
  if (m.length !== d * d) throw new Error(`linalg.ts: expected a ${d} x ${d} matrix, got ${m.length} values`);
  const a = Float64Array.from(m);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let total = 0;
  for (let i = 0; i < d * d; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        // sym.schur2: tau = (a_qq - a_pp) / (2 a_pq), t = sign(tau) / (|tau| + sqrt(1 + tau^2)), c = 1/sqrt(1+t^2).
        const tau = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        // A <- J^T A J with J the rotation in the (p, q) plane; V <- V J.
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p], akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k], aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        a[p * d + q] = 0;
        a[q * d + p] = 0;
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p], vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

/** The symmetric PSD square root V diag(sqrt(max(lambda, 0))) V^T of a symmetric matrix. */
export function sqrtPsd(m: ArrayLike<number>, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = vectors[i * d + k] * r;
      if (vik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += vik * vectors[j * d + k];
    }
  }
  return out;
}

/** C = A B for d x d row-major matrices. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      if (aik === 0) continue;
      for (let j = 0; j < d; j++) c[i * d + j] += aik * b[k * d + j];
    }
  }
  return c;
}

/**
 * tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, as tr((S1^(1/2) S2 S1^(1/2))^(1/2)) (a similar, symmetric PSD
 * matrix), both roots by the Jacobi eigendecomposition; tiny negative eigenvalues from rounding count as 0.
 */
export function traceSqrtProduct(s1: ArrayLike<number>, s2: ArrayLike<number>, d: number): number {
  const r1 = sqrtPsd(s1, d);
  const m = matmul(matmul(r1, s2, d), r1, d);
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const v = 0.5 * (m[i * d + j] + m[j * d + i]);
      m[i * d + j] = v;
      m[j * d + i] = v;
    }
  }
  const { values } = symmetricEigen(m, d);
  let t = 0;
  for (const l of values) t += Math.sqrt(Math.max(l, 0));
  return t;
}

/** out[r * n + j] = sum_d a[r * dim + d] * b[j * dim + d] for r < rows, j < n: four rows share each load of b. */
export function dotRows(a: Float64Array, rows: number, b: Float64Array, n: number, dim: number, out: Float64Array): void {
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const r0 = r * dim, r1 = r0 + dim, r2 = r1 + dim, r3 = r2 + dim;
    for (let j = 0; j < n; j++) {
      const jo = j * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let d = 0; d < dim; d++) {
        const v = b[jo + d];
        s0 += a[r0 + d] * v;
        s1 += a[r1 + d] * v;
        s2 += a[r2 + d] * v;
        s3 += a[r3 + d] * v;
      }
      out[r * n + j] = s0;
      out[(r + 1) * n + j] = s1;
      out[(r + 2) * n + j] = s2;
      out[(r + 3) * n + j] = s3;
    }
  }
  for (; r < rows; r++) {
    const ro = r * dim;
    for (let j = 0; j < n; j++) {
      const jo = j * dim;
      let s0 = 0, s1 = 0, d = 0;
      for (; d + 1 < dim; d += 2) {
        s0 += a[ro + d] * b[jo + d];
        s1 += a[ro + d + 1] * b[jo + d + 1];
      }
      if (d < dim) s0 += a[ro + d] * b[jo + d];
      out[r * n + j] = s0 + s1;
    }
  }
}
