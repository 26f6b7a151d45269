import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { npyToFloat32, parseNpy, toNpy } from '../src/core/npy.js';

// Fixtures written by real numpy: see test/fixtures/npy/make.py and README.md.
const fx = (f: string) => new Uint8Array(readFileSync(new URL(`./fixtures/npy/${f}`, import.meta.url)));

describe('parseNpy on numpy-written files', () => {
  it('float32 2x3 and float64', () => {
    const a = parseNpy(fx('f4_2x3.npy'), 'f4_2x3.npy');
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data as Float32Array)).toEqual([1.5, -2.25, 3, Math.fround(0.1), Math.fround(1e-8), 65504]);
    const b = parseNpy(fx('f8_5.npy'), 'f8_5.npy');
    expect(b.dtype).toBe('float64');
    expect(Array.from(b.data as Float64Array)).toEqual([0.1, -0.2, 1e300, -0, 3.141592653589793]);
    expect(Object.is((b.data as Float64Array)[3], -0)).toBe(true);
  });
  it('integer dtypes', () => {
    const u = parseNpy(fx('u1_2x2x3.npy'), 'u');
    expect(u.dtype).toBe('uint8');
    expect(u.shape).toEqual([2, 2, 3]);
    expect(Array.from(u.data as Uint8Array)).toEqual(Array.from({ length: 12 }, (_, k) => (k * 21) & 255));
    expect(Array.from(parseNpy(fx('i1_4.npy'), 'i').data as Int8Array)).toEqual([-128, -1, 0, 127]);
    expect(Array.from(parseNpy(fx('i4_3.npy'), 'i').data as Int32Array)).toEqual([-2147483648, 0, 2147483647]);
    expect(Array.from(parseNpy(fx('i8_3.npy'), 'i').data as BigInt64Array)).toEqual([-(2n ** 62n), 7n, 2n ** 53n + 1n]);
  });
  it('0-d, empty, version 2.0 and 3.0 headers', () => {
    const s = parseNpy(fx('f4_scalar.npy'), 's');
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data as Float32Array)).toEqual([2.5]);
    const e = parseNpy(fx('f4_0x3.npy'), 'e');
    expect(e.shape).toEqual([0, 3]);
    expect(e.data.length).toBe(0);
    for (const f of ['f4_v2.npy', 'f4_v3.npy']) {
      const v = parseNpy(fx(f), f);
      expect(v.shape).toEqual([2, 2]);
      expect(Array.from(v.data as Float32Array)).toEqual([1, 2, 3, 4]);
    }
  });
  it('refuses what it cannot read, naming the file, the field and what was expected', () => {
    expect(() => parseNpy(fx('f4_be.npy'), 'x.npy')).toThrow(
      "x.npy: header field 'descr' is '>f4'; expected little-endian float32 or float64 ('<f4', '<f8'), or integers ('|u1', '|i1', '<i4', '<i8')",
    );
    expect(() => parseNpy(fx('f4_fortran.npy'), 'x.npy')).toThrow(/x.npy: header field 'fortran_order' is True; fortran_order True is not supported/);
    expect(() => parseNpy(fx('f4_truncated.npy'), 'x.npy')).toThrow('x.npy: data has 20 bytes, shape (2, 3) of <f4 needs 24');
    expect(() => parseNpy(fx('c8_2.npy'), 'x.npy')).toThrow(/header field 'descr' is '<c8'/);
    expect(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not an npy'), 'x.npy')).toThrow(/x.npy: not a .npy file/);
    const v9 = fx('f4_2x3.npy');
    v9[6] = 9;
    expect(() => parseNpy(v9, 'x.npy')).toThrow('x.npy: .npy format version 9.0 is not supported; expected 1.0, 2.0 or 3.0');
    const extra = new Uint8Array([...fx('f4_2x3.npy'), 0, 0, 0, 0]);
    expect(() => parseNpy(extra, 'x.npy')).toThrow(/data has 28 bytes, shape \(2, 3\) of <f4 needs 24/);
    const noShape = toNpy(new Float32Array(1), [1]);
    const txt = new TextDecoder('latin1').decode(noShape).replace("'shape'", "'shapf'");
    expect(() => parseNpy(Uint8Array.from(txt, (c) => c.charCodeAt(0)), 'x.npy')).toThrow("x.npy: header has no field 'shape'");
    expect(() => parseNpy(fx('f4_2x3.npy').subarray(0, 40), 'x.npy')).toThrow(/x.npy: file has 40 bytes; its header says the data starts at byte 128/);
  });
});

describe('npyToFloat32', () => {
  it('passes float32, rounds float64, refuses integers unless asked', () => {
    const a = parseNpy(fx('f4_2x3.npy'), 'a');
    expect(npyToFloat32(a, 'a')).toBe(a.data);
    expect(Array.from(npyToFloat32(parseNpy(fx('f8_5.npy'), 'b'), 'b'))).toEqual([0.1, -0.2, Infinity, -0, Math.PI].map(Math.fround));
    const u = parseNpy(fx('u1_2x2x3.npy'), 'u.npy');
    expect(() => npyToFloat32(u, 'u.npy')).toThrow("u.npy: dtype is uint8 ('|u1'); expected float32 or float64 ('<f4', '<f8')");
    expect(npyToFloat32(u, 'u.npy', { allowIntegers: true })[11]).toBe(231);
    expect(Array.from(npyToFloat32(parseNpy(fx('i8_3.npy'), 'i'), 'i', { allowIntegers: true }))[1]).toBe(7);
  });
});

describe('toNpy', () => {
  it('writes the same bytes as np.save', () => {
    for (const f of ['f4_2x3.npy', 'f8_5.npy', 'f4_scalar.npy', 'f4_0x3.npy']) {
      const bytes = fx(f);
      const p = parseNpy(bytes, f);
      expect(Buffer.from(toNpy(p.data as Float32Array | Float64Array, p.shape)).equals(Buffer.from(bytes))).toBe(true);
    }
  });
  it('round-trips, with the data at a multiple of 64 bytes', () => {
    const data = Float64Array.from({ length: 2 * 3 * 5 }, (_, k) => Math.sin(k) * 1e5);
    const bytes = toNpy(data, [2, 3, 5]);
    const headerLen = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLen) % 64).toBe(0);
    const back = parseNpy(bytes, 'rt');
    expect(back.shape).toEqual([2, 3, 5]);
    expect(back.data).toEqual(data);
    // an unaligned view of the input works too
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    expect(parseNpy(shifted.subarray(3), 'rt').data).toEqual(data);
    const f = new Float32Array([1, 2, 3]);
    expect(parseNpy(toNpy(f.subarray(1), [2]), 'rt').data).toEqual(new Float32Array([2, 3]));
  });
  it('refuses a shape that does not match', () => {
    expect(() => toNpy(new Float32Array(5), [2, 3])).toThrow('toNpy: data has 5 values; shape (2, 3) needs 6');
    expect(() => toNpy(new Float32Array(0), [-1])).toThrow(/shape\[0\] is -1/);
  });
});
