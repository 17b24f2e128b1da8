import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokenLinks, linksOf } from '../../scripts/docs.js';
import { childEnv, tempDir } from '../fixtures/cli.js';

/**
 * The package as a user installs it: packed with `npm pack`, installed into an empty folder with
 * no network (--offline: the tarball has no dependencies to fetch), and its bin driven through
 * the SDK's real client. Packing skips the prepack build: `npm test` has just built dist/, and a
 * rebuild would pull dist/ from under the other test files running beside this one.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

let work: string;
let tarball: string;
let files: Array<{ path: string; size: number }>;
let app: string;
/** npm with its cache in the test's folder: offline, nothing written to the user's cache. */
let npm: (args: string[], cwd: string) => string;

beforeAll(() => {
  work = tempDir('clmcp-pack-');
  const env = {
    ...process.env,
    npm_config_cache: join(work, 'npm-cache'),
    npm_config_update_notifier: 'false',
  };
  npm = (args, cwd) => execFileSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT));
  tarball = join(work, packed[0].filename);
  files = packed[0].files;
  app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  npm(['install', '--offline', '--no-audit', '--no-fund', tarball], app);
}, 180_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the server bundle, README, LICENSE, package.json and the docs a user reads, nothing else', () => {
    const paths = files.map((f) => f.path).sort();
    for (const p of paths)
      expect(p, p).toMatch(
        /^(LICENSE|README\.md|CHANGELOG\.md|package\.json|dist\/cli\.js|dist\/chunks\/[\w-]+\.js|docs\/[\w-]+\.md)$/,
      );
    const docs = readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`);
    expect(docs.length).toBeGreaterThan(0);
    expect(paths).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'CHANGELOG.md',
        'package.json',
        'dist/cli.js',
        ...docs,
      ]),
    );
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect(PKG.license).toBe('MIT');
  });

  it('every relative link in the shipped README points to a file in the tarball (and its heading)', () => {
    const installed = join(app, 'node_modules', 'capillary-loyalty-mcp');
    const shipped = readFileSync(join(installed, 'README.md'), 'utf8');
    expect(shipped).toBe(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const relative = linksOf(shipped)
      .filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l))
      .map((l) => l.split('#')[0])
      .filter((l) => l !== '');
    expect(relative.length).toBeGreaterThan(0);
    const paths = new Set(files.map((f) => f.path));
    expect(relative.filter((l) => !paths.has(decodeURI(l).replace(/^\.\//, '')))).toEqual([]);
    // and every anchor it names is a heading of the shipped file
    expect(brokenLinks(installed, ['README.md'])).toEqual([]);
  });

  it('builds on prepack, not on install; declares no runtime dependency, as its bundle loads none', () => {
    expect(PKG.scripts.prepack).toMatch(/scripts\/build\.mjs/);
    expect(PKG.scripts.prepare).toBeUndefined();
    expect(PKG.scripts.postinstall).toBeUndefined();
    expect(PKG.dependencies ?? {}).toEqual({});
    // Installed offline into an empty folder: the package alone, nothing pulled in beside it.
    expect(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual([
      'capillary-loyalty-mcp',
    ]);
  });

  it('the installed bin answers --version and --help, also through npx', () => {
    const bin = join(app, 'node_modules', '.bin', 'capillary-loyalty-mcp');
    expect(existsSync(bin)).toBe(true);
    const env = childEnv({});
    expect(execFileSync(bin, ['--version'], { env, encoding: 'utf8' })).toBe(`${PKG.version}\n`);
    expect(npm(['exec', '--offline', '--', 'capillary-loyalty-mcp', '--help'], app)).toMatch(
      /^capillary-loyalty-mcp:/,
    );
    // npx straight from the tarball, in a folder that has nothing installed.
    expect(
      npm(
        ['exec', '--offline', '--yes', `--package=${tarball}`, '--', 'capillary-loyalty-mcp', '--version'],
        work,
      ),
    ).toBe(`${PKG.version}\n`);
  });

  it('the installed bin serves MCP over stdio on its embedded sandbox: tools/list and a call', async () => {
    const transport = new StdioClientTransport({
      command: join(app, 'node_modules', '.bin', 'capillary-loyalty-mcp'),
      args: [],
      cwd: app,
      env: childEnv({ CAPILLARY_DATA_DIR: tempDir() }),
      stderr: 'pipe',
    });
    const client = new Client({ name: 'package-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('redeem_points');
      expect(tools).toHaveLength(9);
      const r = (await client.callTool({
        name: 'get_points_balance',
        arguments: { identifier_name: 'mobile', identifier_value: 919000000001 },
      })) as any;
      expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({
        environment: 'sandbox',
        customer_id: '101',
        balance: 5000,
      });
    } finally {
      await client.close();
    }
  });
});
