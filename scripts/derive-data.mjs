// Derives the embedded data sets in data/ from their upstream packages (run once by a maintainer; the results are
// committed, so users never run this). Usage:
//   apt-get download python3-sklearn dataset-fashion-mnist && npm pack emoji-datasource-google@16
//   (unpack them into DIR) then: node scripts/derive-data.mjs DIR
// - digits: sklearn's copy of the UCI optical digits (8x8, values 0..16), copied as is.
// - fashion: Fashion-MNIST test set, the first 200 images of each of the 10 classes (2000 images, 28x28).
// - emoji: Google Noto emoji from emoji-datasource-google's 32px sheet, alpha-composited on white, exact duplicate
//   images removed (the first occurrence kept), stored CHW uint8 with name/category metadata.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { PNG } from 'pngjs';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node scripts/derive-data.mjs DIR');
const out = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'data');

function npyU8(shape, bytes) {
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(bytes)]);
}
const gz = (b) => zlib.gzipSync(b, { level: 9 });

// digits
fs.copyFileSync(path.join(dir, 'usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'), path.join(out, 'digits.csv.gz'));

// fashion
const fimg = zlib.gunzipSync(fs.readFileSync(path.join(dir, 'usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')));
const flab = zlib.gunzipSync(fs.readFileSync(path.join(dir, 'usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')));
const perClass = 200, picked = [], counts = new Array(10).fill(0);
for (let i = 0; i < 10000 && picked.length < 10 * perClass; i++) {
  const l = flab[8 + i];
  if (counts[l] < perClass) { counts[l]++; picked.push(i); }
}
const fImages = new Uint8Array(picked.length * 784), fLabels = new Uint8Array(picked.length);
picked.forEach((src, k) => { fImages.set(fimg.subarray(16 + src * 784, 16 + (src + 1) * 784), k * 784); fLabels[k] = flab[8 + src]; });
fs.writeFileSync(path.join(out, 'fashion-images.npy.gz'), gz(npyU8([picked.length, 1, 28, 28], fImages)));
fs.writeFileSync(path.join(out, 'fashion-labels.npy.gz'), gz(npyU8([picked.length], fLabels)));

// emoji
const pkg = path.join(dir, 'package');
const meta = JSON.parse(fs.readFileSync(path.join(pkg, 'emoji.json'), 'utf8')).filter((e) => e.has_img_google);
meta.sort((a, b) => a.sort_order - b.sort_order);
const sheet = PNG.sync.read(fs.readFileSync(path.join(pkg, 'img/google/sheets/32.png')));
const S = 32, cell = S + 2, seen = new Map(), images = [], kept = [];
for (const e of meta) {
  const chw = new Uint8Array(3 * S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const px = e.sheet_x * cell + 1 + x, py = e.sheet_y * cell + 1 + y, o = 4 * (py * sheet.width + px);
    const a = sheet.data[o + 3] / 255;
    for (let c = 0; c < 3; c++) chw[c * S * S + y * S + x] = Math.round(sheet.data[o + c] * a + 255 * (1 - a));
  }
  const key = Buffer.from(chw).toString('base64');
  if (seen.has(key)) continue;
  seen.set(key, e.unified);
  images.push(chw);
  kept.push({ name: e.name ?? e.short_name, short_name: e.short_name, unified: e.unified, category: e.category, subcategory: e.subcategory });
}
const all = new Uint8Array(images.length * 3 * S * S);
images.forEach((im, k) => all.set(im, k * im.length));
fs.writeFileSync(path.join(out, 'emoji-images.npy.gz'), gz(npyU8([images.length, 3, S, S], all)));
fs.writeFileSync(path.join(out, 'emoji-meta.json'), JSON.stringify({ source: 'emoji-datasource-google@16.0.0 img/google/sheets/32.png', background: 'white', emoji: kept }));
console.log({ fashion: picked.length, emoji: images.length, removedDuplicates: meta.length - images.length });
