// The .npy format (NumPy Enhancement Proposal 1, numpy.lib.format), versions 1.0, 2.0 and 3.0: parse and write
// bytes, no fs. Little-endian, C order; float32/float64, and uint8/int8/int32/int64 as integer arrays.

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int8' | 'int32' | 'int64';
export type NpyData = Float32Array | Float64Array | Uint8Array | Int8Array | Int32Array | BigInt64Array;

export interface ParsedNpy {
  dtype: NpyDtype;
  /** The header's descr, e.g. '<f4'. */
  descr: string;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy pads the header so the data starts at a multiple of 64 bytes (numpy.lib.format.ARRAY_ALIGN). */
const ARRAY_ALIGN = 64;
/** numpy leaves room for the first axis to grow to 21 digits (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS). */
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCRS: Record<string, { dtype: NpyDtype; size: number }> = {
  '<f4': { dtype: 'float32', size: 4 },
  '<f8': { dtype: 'float64', size: 8 },
  '|u1': { dtype: 'uint8', size: 1 },
  '<u1': { dtype: 'uint8', size: 1 },
  '>u1': { dtype: 'uint8', size: 1 },
  '|i1': { dtype: 'int8', size: 1 },
  '<i1': { dtype: 'int8', size: 1 },
  '>i1': { dtype: 'int8', size: 1 },
  '<i4': { dtype: 'int32', size: 4 },
  '<i8': { dtype: 'int64', size: 8 },
};

const SUPPORTED = "little-endian float32 or float64 ('<f4', '<f8'), or integers ('|u1', '|i1', '<i4', '<i8')";

function shapeText(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

// --- a small reader for the header, a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

type PyValue = string | boolean | number[];

function parseHeaderDict(text: string, name: string): Map<string, PyValue> {
  let i = 0;
  const bad = (what: string): never => {
    throw new Error(`${name}: header is not a valid .npy header dict (${what} at character ${i}): ${JSON.stringify(text.trim())}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') bad('expected a quoted string');
    const end = text.indexOf(q, i + 1);
    if (end < 0) bad('unterminated string');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (text.startsWith('True', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('False', i)) {
      i += 5;
      return false;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: number[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return items;
        }
        const m = /^\d+L?/.exec(text.slice(i));
        if (!m) return bad('expected a non-negative integer in the shape');
        items.push(Number(m[0].replace('L', '')));
        i += m[0].length;
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) bad(`expected ',' or '${close}'`);
      }
    }
    return bad('unexpected value');
  };
  const out = new Map<string, PyValue>();
  ws();
  if (text[i] !== '{') bad("expected '{'");
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = str();
    ws();
    if (text[i] !== ':') bad("expected ':'");
    i++;
    out.set(key, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') bad("expected ',' or '}'");
  }
  return out;
}

/** Parses .npy bytes; `name` (a file name) starts every error message. */
export function parseNpy(bytes: Uint8Array, name: string): ParsedNpy {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new Error(`${name}: not a .npy file (it does not start with the magic bytes \\x93NUMPY)`);
  }
  const major = bytes[6], minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new Error(`${name}: .npy format version ${major}.${minor} is not supported; expected 1.0, 2.0 or 3.0`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new Error(`${name}: file has ${bytes.length} bytes; too short for a version ${major}.0 header`);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (bytes.length < dataStart) throw new Error(`${name}: file has ${bytes.length} bytes; its header says the data starts at byte ${dataStart}`);
  const headerBytes = bytes.subarray(8 + lenBytes, dataStart);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const dict = parseHeaderDict(text, name);

  for (const field of ['descr', 'fortran_order', 'shape']) {
    if (!dict.has(field)) throw new Error(`${name}: header has no field '${field}'`);
  }
  const descr = dict.get('descr');
  if (typeof descr !== 'string') throw new Error(`${name}: header field 'descr' is not a string; expected ${SUPPORTED} (structured dtypes are not supported)`);
  const info = DESCRS[descr];
  if (!info) throw new Error(`${name}: header field 'descr' is '${descr}'; expected ${SUPPORTED}`);
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') throw new Error(`${name}: header field 'fortran_order' is not True or False`);
  if (fortran) {
    throw new Error(`${name}: header field 'fortran_order' is True; fortran_order True is not supported (save a C-order array, e.g. np.ascontiguousarray)`);
  }
  const shape = dict.get('shape');
  if (!Array.isArray(shape)) throw new Error(`${name}: header field 'shape' is not a tuple of integers`);
  const count = shape.reduce((a, b) => a * b, 1);
  const need = count * info.size;
  const have = bytes.length - dataStart;
  if (have !== need) {
    throw new Error(`${name}: data has ${have} bytes, shape ${shapeText(shape)} of ${descr} needs ${need}`);
  }
  // A copy into a fresh ArrayBuffer: Node Buffer.slice is a view, so its .buffer would be the whole pool.
  const buf = Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + need).buffer;
  let data: NpyData;
  switch (info.dtype) {
    case 'float32':
      data = new Float32Array(buf);
      break;
    case 'float64':
      data = new Float64Array(buf);
      break;
    case 'uint8':
      data = new Uint8Array(buf);
      break;
    case 'int8':
      data = new Int8Array(buf);
      break;
    case 'int32':
      data = new Int32Array(buf);
      break;
    case 'int64':
      data = new BigInt64Array(buf);
      break;
  }
  return { dtype: info.dtype, descr, shape: [...shape], data };
}

/**
 * The data as float32: float32 as is, float64 rounded to float32; integer dtypes are refused unless
 * `allowIntegers` (then converted to their float32 values).
 */
export function npyToFloat32(parsed: ParsedNpy, name: string, opts: { allowIntegers?: boolean } = {}): Float32Array {
  const d = parsed.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof Float64Array) return Float32Array.from(d);
  if (!opts.allowIntegers) {
    throw new Error(`${name}: dtype is ${parsed.dtype} ('${parsed.descr}'); expected float32 or float64 ('<f4', '<f8')`);
  }
  if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d);
}

/** Serialises a C-order float32/float64 array as .npy bytes (version 1.0, or 2.0 for a header over 65535 bytes), as np.save writes it. */
export function toNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  shape.forEach((n, k) => {
    if (!Number.isInteger(n) || n < 0) throw new Error(`toNpy: shape[${k}] is ${n}; expected an integer >= 0`);
  });
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`toNpy: data has ${data.length} values; shape ${shapeText(shape)} needs ${count}`);
  const descr = data instanceof Float32Array ? '<f4' : '<f8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  let lenBytes = 2;
  let total = 8 + lenBytes + header.length + 1;
  if (Math.ceil(total / ARRAY_ALIGN) * ARRAY_ALIGN - 10 > 65535) lenBytes = 4;
  total = 8 + lenBytes + header.length + 1;
  const padded = Math.ceil(total / ARRAY_ALIGN) * ARRAY_ALIGN;
  header += ' '.repeat(padded - total) + '\n';
  const out = new Uint8Array(padded + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = lenBytes === 2 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (lenBytes === 2) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  for (let k = 0; k < header.length; k++) out[8 + lenBytes + k] = header.charCodeAt(k);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), padded);
  return out;
}
