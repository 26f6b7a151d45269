// The library core (src/index.ts and everything it imports) must run in a browser: no Node built-ins and no
// onnxruntime-node anywhere in its import graph. This walks the graph from the source files.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '..', 'src');
const NODE_ONLY = /^(node:|fs$|path$|zlib$|os$|child_process$|crypto$|url$|onnxruntime-node$)/;

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) out.push(m[1]);
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) out.push(m[1]);
  return out;
}

function walk(entry: string): { files: Set<string>; offenders: string[] } {
  const files = new Set<string>();
  const offenders: string[] = [];
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of importsOf(f)) {
      if (spec.startsWith('.')) stack.push(path.resolve(path.dirname(f), spec.replace(/\.js$/, '.ts')));
      else if (NODE_ONLY.test(spec)) offenders.push(`${path.relative(SRC, f)} imports '${spec}'`);
    }
  }
  return { files, offenders };
}

describe('browser safety of the core', () => {
  it('src/index.ts reaches no Node-only module', () => {
    const { files, offenders } = walk(path.join(SRC, 'index.ts'));
    expect(files.size).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });

  it('the check itself catches a Node-only import (src/node.ts reaches onnxruntime-node)', () => {
    const { offenders } = walk(path.join(SRC, 'node.ts'));
    expect(offenders.some((o) => o.includes('onnxruntime-node'))).toBe(true);
  });
});
