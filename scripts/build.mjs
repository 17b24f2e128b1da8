// Bundles the CLI with esbuild into dist/ (what the package ships): one file to load at start,
// with the sandbox and the HTTP transport split into chunks that load only when used. The demo,
// bench and docs entries go to dist-dev/, apart.

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

// Chunk names carry content hashes: clear the old outputs so each folder holds only this build.
rmSync('dist', { recursive: true, force: true });
rmSync('dist-dev', { recursive: true, force: true });

const common = {
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
};
// dist/: the server, and nothing else. It is what the package ships (package.json "files").
await build({ ...common, entryPoints: ['src/cli.ts'], outdir: 'dist' });
chmodSync('dist/cli.js', 0o755);
// dist-dev/: the developer entries (demo, benches, docs generator), never shipped. One level under
// the repository root, as dist/ is, so their paths to it hold.
const devEntries = ['examples/demo.ts', 'bench/bench.ts', 'bench/redact.ts', 'scripts/docs.ts'].filter((f) =>
  existsSync(f),
);
if (devEntries.length) await build({ ...common, entryPoints: devEntries, outdir: 'dist-dev' });
