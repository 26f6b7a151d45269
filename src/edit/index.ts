// Spatially sparse editing: SDEdit with the original run cached and only the edit's dependency cone recomputed
// (after SIGE, Li et al. 2022). Browser-safe; the `iia edit` command (src/cli/edit.ts) adds the file I/O.
export { differenceMask, dilateMask, dependencyCone, maskCount, tilesTouching, tilePixels } from './mask.js';
export { sdeditGrid, sdeditStart, runSdedit, type SdeditRunOptions } from './sdedit.js';
export {
  cacheOriginal,
  sparseEdit,
  imageShape,
  RecordingDenoiser,
  SparseReplayDenoiser,
  type CallRecord,
  type EditCallStats,
  type EditOptions,
  type EditResult,
  type EditSetup,
  type OriginalCache,
} from './sparse.js';
export {
  LocalEmpiricalDenoiser,
  isLocalDenoiser,
  makeTiling,
  tileBounds,
  type LocalDenoiser,
  type LocalEmpiricalOptions,
  type Tiling,
} from '../models/patch-denoiser.js';
