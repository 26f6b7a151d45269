// A denoiser wrapper that adds the wall time of every predict() to a counter (seconds): how the benchmarks split a run
// into time inside the model and time outside it.
import type { Denoiser } from '../src/models/denoiser.js';

export function timedDenoiser(denoiser: Denoiser): { model: Denoiser; seconds: () => number; reset: () => void } {
  let seconds = 0;
  const model: Denoiser = {
    sampleShape: denoiser.sampleShape,
    name: denoiser.name,
    evaluationsPerCall: denoiser.evaluationsPerCall,
    predict: async (y, at) => {
      const t0 = performance.now();
      const p = await denoiser.predict(y, at);
      seconds += (performance.now() - t0) / 1000;
      return p;
    },
  };
  return { model, seconds: () => seconds, reset: () => void (seconds = 0) };
}
