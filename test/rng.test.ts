import { describe, expect, it } from 'vitest';
import { normalBatch, philox4x32, sampleNormals } from '../src/core/rng.js';

const hex = (a: Uint32Array) => Array.from(a, (x) => x.toString(16).padStart(8, '0')).join(' ');

describe('Philox4x32-10', () => {
  // Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds).
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe(
      '408f276d 41c83b0e a20bc7c6 6d5451fd',
    );
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });

  it('gives sample k of seed s the same numbers whatever the batch split', () => {
    const whole = normalBatch(7, 0, 10, 33);
    const a = normalBatch(7, 0, 4, 33);
    const b = normalBatch(7, 4, 6, 33);
    expect(Array.from(a)).toEqual(Array.from(whole.subarray(0, 4 * 33)));
    expect(Array.from(b)).toEqual(Array.from(whole.subarray(4 * 33)));
  });

  it('draws standard normals (moments) and separates streams and seeds', () => {
    const v = sampleNormals(3, 1, 200_000);
    let m = 0, s = 0, k = 0;
    for (const x of v) { m += x; s += x * x; k += x ** 4; }
    m /= v.length; s /= v.length; k /= v.length;
    expect(Math.abs(m)).toBeLessThan(0.01);
    expect(Math.abs(s - 1)).toBeLessThan(0.01);
    expect(Math.abs(k - 3)).toBeLessThan(0.05);
    expect(sampleNormals(3, 1, 4, 1)[0]).not.toBe(v[0]);
    expect(sampleNormals(4, 1, 4)[0]).not.toBe(v[0]);
  });

  it('rejects seeds outside uint32', () => {
    expect(() => sampleNormals(-1, 0, 1)).toThrow(/seed/);
    expect(() => sampleNormals(2 ** 32, 0, 1)).toThrow(/seed/);
  });
});
