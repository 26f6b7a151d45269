// The embedded data sets (digits, fashion, emoji) read from the package's data/ directory, pixels mapped to
// [-1, 1], with their labels. Node-only (fs, zlib).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parseNpy } from '../core/npy.js';

export interface EmbeddedInfo {
  name: string;
  count: number;
  /** Shape of one image (CHW). */
  shape: number[];
  description: string;
}

export interface EmbeddedDataset extends EmbeddedInfo {
  /** count x prod(shape) pixels in [-1, 1]. */
  images: Float32Array;
  /** Class index of each image (digit, fashion class, emoji category). */
  labels: Int32Array;
  classNames: string[];
}

export const EMBEDDED_DATASETS: readonly EmbeddedInfo[] = [
  { name: 'digits', count: 1797, shape: [1, 8, 8], description: 'UCI handwritten digits 8x8 (scikit-learn; Alpaydin & Kaynak)' },
  { name: 'fashion', count: 2000, shape: [1, 28, 28], description: 'Fashion-MNIST test images, first 200 per class (Zalando, MIT)' },
  { name: 'emoji', count: 1897, shape: [3, 32, 32], description: 'Google Noto emoji 32x32 RGB on white (Apache-2.0)' },
];

const DIGIT_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The package's data/ directory (this file is src/models/data.ts or dist/models/data.js). */
export function dataDir(): string {
  return fileURLToPath(new URL('../../data/', import.meta.url));
}

function readGz(file: string): Buffer {
  const path = dataDir() + file;
  try {
    return gunzipSync(readFileSync(path));
  } catch (e) {
    throw new Error(`data.ts: cannot read embedded data file '${path}': ${(e as Error).message}`);
  }
}

/** An embedded uint8 array (.npy.gz) with its shape. */
function readUint8Npy(file: string): { shape: number[]; data: Uint8Array } {
  const buf = readGz(file);
  // A plain Uint8Array view: parseNpy slices its input, and Buffer.slice shares memory instead of copying.
  const parsed = parseNpy(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
  if (parsed.dtype !== 'uint8') throw new Error(`data.ts: ${file} holds ${parsed.dtype}, expected uint8`);
  return { shape: parsed.shape, data: parsed.data as Uint8Array };
}

function uint8ToUnit(v: Uint8Array): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / 127.5 - 1;
  return out;
}

function loadDigits(): Omit<EmbeddedDataset, keyof EmbeddedInfo> {
  const rows = readGz('digits.csv.gz').toString('utf8').trim().split('\n');
  const images = new Float32Array(rows.length * 64);
  const labels = new Int32Array(rows.length);
  rows.forEach((line, r) => {
    const v = line.split(',').map(Number);
    if (v.length !== 65) throw new Error(`data.ts: digits.csv.gz row ${r + 1} has ${v.length} values, expected 65`);
    for (let i = 0; i < 64; i++) images[r * 64 + i] = v[i] / 8 - 1;
    labels[r] = v[64];
  });
  return { images, labels, classNames: [...DIGIT_CLASSES] };
}

function loadFashion(): Omit<EmbeddedDataset, keyof EmbeddedInfo> {
  const img = readUint8Npy('fashion-images.npy.gz');
  const lab = readUint8Npy('fashion-labels.npy.gz');
  return { images: uint8ToUnit(img.data), labels: Int32Array.from(lab.data), classNames: [...FASHION_CLASSES] };
}

/** The emoji metadata (one entry per stored image, in order). */
function readEmojiMeta(): { name: string; category: string }[] {
  const metaPath = dataDir() + 'emoji-meta.json';
  try {
    return (JSON.parse(readFileSync(metaPath, 'utf8')) as { emoji: { name: string; category: string }[] }).emoji;
  } catch (e) {
    throw new Error(`data.ts: cannot read emoji metadata '${metaPath}': ${(e as Error).message}`);
  }
}

/** Emoji categories in order of first appearance in emoji-meta.json (the class indices of data:emoji). */
function emojiCategories(meta: readonly { category: string }[]): string[] {
  const names: string[] = [];
  for (const e of meta) if (!names.includes(e.category)) names.push(e.category);
  return names;
}

function loadEmoji(): Omit<EmbeddedDataset, keyof EmbeddedInfo> {
  const img = readUint8Npy('emoji-images.npy.gz');
  const meta = readEmojiMeta();
  const classNames = emojiCategories(meta);
  const labels = Int32Array.from(meta, (e) => classNames.indexOf(e.category));
  return { images: uint8ToUnit(img.data), labels, classNames };
}

const LOADERS: Record<string, () => Omit<EmbeddedDataset, keyof EmbeddedInfo>> = { digits: loadDigits, fashion: loadFashion, emoji: loadEmoji };
const cache = new Map<string, EmbeddedDataset>();

function embeddedInfo(name: string): EmbeddedInfo {
  const info = EMBEDDED_DATASETS.find((d) => d.name === name);
  if (!info) throw new Error(`data.ts: unknown data set '${name}'; known: ${EMBEDDED_DATASETS.map((d) => d.name).join(', ')}`);
  return info;
}

/** Class names of an embedded data set without loading its images (for `iia models`); index = label. */
export function embeddedClassNames(name: string): string[] {
  embeddedInfo(name);
  if (name === 'digits') return [...DIGIT_CLASSES];
  if (name === 'fashion') return [...FASHION_CLASSES];
  return emojiCategories(readEmojiMeta());
}

/** Check N for a data set: an integer in [1, count]. */
export function checkCount(name: string, n: number | undefined): number {
  const info = embeddedInfo(name);
  if (n === undefined) return info.count;
  if (!Number.isInteger(n) || n < 1 || n > info.count) {
    throw new Error(`data.ts: N = ${n} is out of range for data set '${name}'; allowed 1..${info.count}`);
  }
  return n;
}

/** The first `n` images (default all) of an embedded data set; views share the cached full set. */
export function loadEmbeddedDataset(name: string, n?: number): EmbeddedDataset {
  const info = embeddedInfo(name);
  const count = checkCount(name, n);
  let full = cache.get(name);
  if (!full) {
    const loaded = LOADERS[name]();
    const dim = info.shape.reduce((a, b) => a * b, 1);
    if (loaded.images.length !== info.count * dim || loaded.labels.length !== info.count) {
      throw new Error(`data.ts: embedded data set '${name}' has ${loaded.images.length / dim} images and ${loaded.labels.length} labels, expected ${info.count}`);
    }
    full = { ...info, ...loaded };
    cache.set(name, full);
  }
  if (count === info.count) return full;
  const dim = info.shape.reduce((a, b) => a * b, 1);
  return { ...full, count, images: full.images.subarray(0, count * dim), labels: full.labels.subarray(0, count) };
}
