// Bundles the CLI (and the demo and bench entries) with esbuild: one file to load at start,
// with the sandbox and the HTTP transport split into chunks that load only when used.

import { chmodSync, existsSync } from 'node:fs';
import { build } from 'esbuild';

const entryPoints = ['src/cli.ts', 'src/demo.ts', 'bench/bench.ts', 'scripts/docs.ts'].filter((f) =>
  existsSync(f),
);
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
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});
chmodSync('dist/cli.js', 0o755);
