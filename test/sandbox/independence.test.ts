/**
 * The sandbox is an independent fake of Capillary: it must not borrow the client side's code
 * (a shared mistake would then pass on both sides). These tests pin that, and pin the one list
 * it duplicates on purpose (the documented eventName values) equal to the tools' copy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { EVENT_NAMES as SANDBOX_EVENT_NAMES } from '../../src/sandbox/seed.js';
import { EVENT_NAMES as TOOL_EVENT_NAMES } from '../../src/toolkit/fields.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SANDBOX = join(ROOT, 'src', 'sandbox');
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.[cm]?ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** The package a bare specifier names: `zod` for `zod/v4`, `@scope/pkg` for `@scope/pkg/x`. */
const packageOf = (spec: string) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');

/**
 * The npm packages the server itself runs with (bundled into dist/): those its own sources
 * outside the sandbox import. The sandbox may use them too (a library is not client code).
 */
const RUNTIME_DEPS = new Set(
  sourceFiles(join(ROOT, 'src'))
    .filter((f) => !f.startsWith(SANDBOX + sep))
    .flatMap((f) => ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles)
    .map(({ fileName }) => fileName)
    .filter((spec) => !spec.startsWith('node:') && !spec.startsWith('.') && !spec.startsWith('/'))
    .map(packageOf),
);

/** Every import/export/dynamic import/require of `text` (in `file`) that leaves the sandbox. */
function outsideImports(file: string, text: string): string[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  const bad: string[] = [];
  for (const { fileName: spec } of importedFiles) {
    if (spec.startsWith('node:')) continue;
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const target = resolve(dirname(file), spec);
      if (target !== SANDBOX && !target.startsWith(SANDBOX + sep)) bad.push(spec);
      continue;
    }
    if (!RUNTIME_DEPS.has(packageOf(spec))) bad.push(spec);
  }
  return bad;
}

describe('sandbox independence', () => {
  const files = sourceFiles(SANDBOX);

  it('finds the sandbox sources', () => {
    expect(files.length).toBeGreaterThan(5);
    expect(files.map((f) => relative(SANDBOX, f))).toContain('index.ts');
  });

  it('the check itself catches imports that leave the sandbox', () => {
    const probe = join(SANDBOX, 'endpoints', 'probe.ts');
    const text = [
      "import { EVENT_NAMES } from '../../toolkit/fields.js';",
      "export { x } from '../../capillary/client.js';",
      "const m = await import('../../safety/ledger.js');",
      "import { createServer } from 'node:http';",
      "import { z } from 'zod';",
      "import { isObj } from '../core.js';",
      "import { something } from 'left-pad';",
    ].join('\n');
    expect(outsideImports(probe, text)).toEqual([
      '../../toolkit/fields.js',
      '../../capillary/client.js',
      '../../safety/ledger.js',
      'left-pad',
    ]);
  });

  it('no file in src/sandbox imports from outside it (node: and runtime npm packages aside)', () => {
    const offenders = files.flatMap((f) =>
      outsideImports(f, readFileSync(f, 'utf8')).map((spec) => `${relative(ROOT, f)}: ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it("keeps its own eventName list, equal to the tools' list", () => {
    expect(SANDBOX_EVENT_NAMES).not.toBe(TOOL_EVENT_NAMES);
    expect([...SANDBOX_EVENT_NAMES]).toEqual([...TOOL_EVENT_NAMES]);
  });
});
