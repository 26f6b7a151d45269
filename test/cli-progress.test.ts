import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../src/cli/progress.js';
import { parseOptionValue, parsePositiveInt, parseSolverOptions } from '../src/cli/args.js';

function fakeTty(): { stream: NodeJS.WritableStream; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  }) as Writable & { isTTY: boolean; columns: number };
  stream.isTTY = true;
  stream.columns = 100;
  return { stream, text: () => out };
}

describe('progress bar', () => {
  it('appears only after the delay has passed', () => {
    let t = 0;
    const tty = fakeTty();
    const p = createProgress({ enabled: true, stream: tty.stream, delayMs: 1000, now: () => t });
    p.update(1, 10);
    t = 500;
    p.update(2, 10);
    expect(p.shown).toBe(false);
    expect(tty.text()).toBe('');
    t = 1200;
    p.update(3, 10);
    expect(p.shown).toBe(true);
    expect(tty.text()).toContain('3/10');
    p.stop();
  });

  it('never appears when disabled (no TTY, or --json)', () => {
    let t = 0;
    const tty = fakeTty();
    const p = createProgress({ enabled: false, stream: tty.stream, delayMs: 1000, now: () => t });
    t = 5000;
    p.update(3, 10);
    p.stop();
    expect(p.shown).toBe(false);
    expect(tty.text()).toBe('');
  });
});

describe('flag values', () => {
  it('parses solver options: numbers and booleans, strings otherwise', () => {
    expect(parseSolverOptions(['eta=1', 'lowerOrderFinal=true', 'variant=bh2', 'x=-1.5e-3', 'y=false'])).toEqual({
      eta: 1,
      lowerOrderFinal: true,
      variant: 'bh2',
      x: -1.5e-3,
      y: false,
    });
    expect(parseOptionValue('0x10')).toBe('0x10');
  });
  it('refuses malformed options', () => {
    expect(() => parseSolverOptions(['eta'])).toThrow(/--option: expected key=value/);
    expect(() => parseSolverOptions(['=3'])).toThrow(/--option: expected key=value/);
    expect(() => parseSolverOptions(['a=1', 'a=2'])).toThrow(/given twice/);
  });
  it('refuses non-integers for counts', () => {
    expect(parsePositiveInt('--steps', '12')).toBe(12);
    for (const bad of ['0', '-3', '2.5', 'abc', '', '1e3']) expect(() => parsePositiveInt('--steps', bad)).toThrow(/--steps: expected a positive integer/);
  });
});
