// Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models", eq. 5: noise levels
// evenly spaced in sigma^(1/rho) from sigma_max to sigma_min.

/**
 * EDM eq. 5: sigma_i = (sigma_max^(1/rho) + i / (n - 1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, i < n.
 * n = 1 gives [sigma_max] (k-diffusion's get_sigmas_karras does the same). Float64, as NVlabs/edm generate.py.
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): number[] {
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? sigmaMax : (a + (i / (n - 1)) * (b - a)) ** rho;
  // The formula's ends are sigma_max and sigma_min up to rounding; put them exactly.
  out[0] = sigmaMax;
  if (n > 1) out[n - 1] = sigmaMin;
  return out;
}
