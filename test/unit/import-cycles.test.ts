import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The house rule: no import cycle among the project's modules (src/ and tools/). Value imports
 * and re-exports count; `import type` is erased and does not.
 */
const root = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Relative value imports of a file, resolved to files (`.js` in a specifier is the `.ts` source). */
function valueImports(file: string, text: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    if (m[2]) continue; // import type / export type
    const spec = m[4] ?? m[5];
    if (
      m[4] &&
      /^\{[^}]*\}$/.test(m[3].trim()) &&
      m[3]
        .replace(/[{}\s]/g, '')
        .split(',')
        .every((n) => n.startsWith('type') || !n)
    )
      continue; // import { type A, type B } from ...
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    if (existsSync(target)) out.push(target);
  }
  return out;
}

function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

describe('imports', () => {
  it('form no cycle in src/ and tools/', () => {
    const files = [...sources(join(root, 'src')), ...sources(join(root, 'tools'))];
    const graph = new Map(files.map((f) => [f, valueImports(f, readFileSync(f, 'utf8'))]));
    const cycle = findCycle(graph)?.map((f) => relative(root, f).split(sep).join('/'));
    expect(cycle).toBeUndefined();
  });

  it('the check finds a cycle when there is one', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(findCycle(g)).toEqual(['a', 'b', 'c', 'a']);
    const text = [
      "import { loadConfig } from './config.js';",
      "import type { Logger } from './log.js';",
      "import { type App } from './app.js';",
      "export { start } from './start.js';",
    ].join('\n');
    expect(
      valueImports(join(root, 'src', 'cli.ts'), text).map((f) => relative(root, f).split(sep).join('/')),
    ).toEqual(['src/config.ts', 'src/start.ts']);
  });
});
