// Bundles the CLI (and the demo and bench entries) with esbuild: one file to load at start,
// with the sandbox and the HTTP transport split into chunks that load only when used.

import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

// Bundled CommonJS dependencies call require(); give the ESM bundle one.
const banner = {
  js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
};

/**
 * The tools/list entries, converted from the zod schemas here, once, by the same listTool() the
 * server runs: converting them at every start cost about 15 ms of each cold start. The bundle
 * gets them as __LISTED_TOOLS__ (src/toolkit/listing.ts); running from source converts at start as before.
 */
async function listedTools() {
  const gen = await build({
    stdin: {
      contents:
        "import { ALL_TOOLS } from './src/toolkit/all-tools.js';\nimport { listTool } from './src/toolkit/listing.js';\n" +
        'export default Object.fromEntries(ALL_TOOLS.map((t) => [t.name, listTool(t)]));\n',
      resolveDir: process.cwd(),
      loader: 'ts',
      sourcefile: 'listed-tools.ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'warning',
    banner,
  });
  const dir = mkdtempSync(join(tmpdir(), 'clmcp-build-'));
  try {
    const file = join(dir, 'listed-tools.mjs');
    writeFileSync(file, gen.outputFiles[0].text);
    return (await import(pathToFileURL(file).href)).default;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Chunk names carry content hashes: clear the old ones so dist/ holds only this build.
rmSync('dist/chunks', { recursive: true, force: true });

const entryPoints = [
  'src/cli.ts',
  'examples/demo.ts',
  'bench/bench.ts',
  'bench/redact.ts',
  'scripts/docs.ts',
].filter((f) => existsSync(f));
await build({
  entryPoints,
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  define: { __LISTED_TOOLS__: JSON.stringify(await listedTools()) },
  banner,
  // pg's optional native binding (never used: the pure JavaScript client is).
  external: ['pg-native'],
});
chmodSync('dist/cli.js', 0o755);
