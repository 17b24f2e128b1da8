import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * src/mcp/http/exchange.ts is the one file allowed to touch the MCP SDK's internals (anything
 * outside its public, documented API). These checks fail when another file under src/ does.
 */

const root = join(import.meta.dirname, '..', '..');
const src = join(root, 'src');
const EXCHANGE = ['mcp', 'http', 'exchange.ts'].join('/');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [p] : [];
  });
}

const files = sources(src).map((p) => ({
  name: relative(src, p).split(sep).join('/'),
  text: readFileSync(p, 'utf8'),
}));

/** The reach-ins the exchange makes: a private field, a wrapped send, feeding messages in. */
const REACH_INS: Array<[string, RegExp]> = [
  ['the Server private field _clientCapabilities', /_clientCapabilities/],
  ['calling or reading a transport onmessage handler', /\.onmessage\b/],
  ['replacing a send method', /\.send\s*=(?!=)/],
];

/** A private-looking member (`x._name`, `{ _name: ... }` casts), `_meta` being public MCP. */
const PRIVATE_MEMBER = /(\.|\{\s*|\[['"])_(?!meta\b)[A-Za-z]\w*/;
/** The SDK's v2 packages (the server, its shared core); the v1 `sdk` package is for tests only. */
const importsSdk = (text: string) => /from ['"]@modelcontextprotocol\/(server|core|sdk)\b/.test(text);

/** A line's code, without its line comment (a comment may name what it must not do). */
const code = (line: string) => line.replace(/\/\/.*$/, '');

function hits(text: string, re: RegExp): string[] {
  return text
    .split('\n')
    .map((line, i) => ({ line: code(line), n: i + 1 }))
    .filter(({ line }) => re.test(line))
    .map(({ line, n }) => `${n}: ${line.trim()}`);
}

describe('SDK internals live in src/mcp/http/exchange.ts only', () => {
  const exchange = files.find((f) => f.name === EXCHANGE);

  it('the exchange exists and says in its opening comment that it is the only such file', () => {
    expect(exchange, `${EXCHANGE} not found`).toBeDefined();
    const opening = exchange!.text.slice(0, exchange!.text.indexOf('*/'));
    expect(opening).toMatch(/ONLY file in the repository allowed to touch SDK internals/);
  });

  it.each(REACH_INS)('the exchange still does what this test looks for: %s', (_what, re) => {
    // Keeps the list honest: a reach-in the exchange no longer makes should leave the list.
    expect(hits(exchange!.text, re).length).toBeGreaterThan(0);
  });

  it.each(REACH_INS)('no other file under src/ does it: %s', (_what, re) => {
    const found = files
      .filter((f) => f.name !== EXCHANGE)
      .flatMap((f) => hits(f.text, re).map((h) => `src/${f.name}:${h}`));
    expect(found).toEqual([]);
  });

  it('the server runs on the v2 packages: nothing under src/ imports v1 (@modelcontextprotocol/sdk) or v2 internals', () => {
    // v1 stays a dev dependency, for the tests that drive the built server with a v1 client; the
    // SDK's `core` package is what `server` re-exports, not an API of its own.
    const found = files
      .filter((f) => /from ['"]@modelcontextprotocol\/(sdk|core)\b/.test(f.text))
      .map((f) => `src/${f.name}`);
    expect(found).toEqual([]);
  });

  it('no other file that imports the SDK reaches for a private member', () => {
    const found = files
      .filter((f) => f.name !== EXCHANGE && importsSdk(f.text))
      .flatMap((f) => hits(f.text, PRIVATE_MEMBER).map((h) => `src/${f.name}:${h}`));
    expect(files.filter((f) => importsSdk(f.text)).length).toBeGreaterThan(1);
    expect(found).toEqual([]);
  });
});
