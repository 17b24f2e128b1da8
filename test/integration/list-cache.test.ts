import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpChild, spawnHttp } from '../fixtures/cli.js';
import { MCP_HEADERS, raw } from '../fixtures/clients.js';

/**
 * tools/list is deterministic and cacheable: two processes (replicas, or one before and after a
 * restart) answer it with the same bytes, in both eras; on 2026-07-28 it carries the caching
 * hints (ttlMs, cacheScope public: the list is the same for every caller). The server's icon is
 * a small SVG data URI.
 */

const MODERN = '2026-07-28';
const meta = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

describe('tools/list: the same bytes from two processes, cacheable', () => {
  let a: HttpChild;
  let b: HttpChild;
  beforeAll(async () => {
    [a, b] = await Promise.all([spawnHttp(), spawnHttp()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  const list = (srv: HttpChild, modern: boolean, method = 'tools/list') =>
    raw(srv.url, {
      method: 'POST',
      headers: {
        ...MCP_HEADERS,
        host: `127.0.0.1:${srv.port}`,
        ...(modern ? { 'mcp-protocol-version': MODERN, 'mcp-method': method } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: modern ? { _meta: meta } : {} }),
    });

  it.each([
    ['2025-11-25', false],
    ['2026-07-28', true],
  ] as const)('%s: identical bytes from both processes', async (_era, modern) => {
    const [ra, rb] = await Promise.all([list(a, modern), list(b, modern)]);
    expect(ra.status).toBe(200);
    expect(ra.body.length).toBeGreaterThan(1000);
    expect(ra.body).toBe(rb.body);
    // And from the same process again.
    expect((await list(a, modern)).body).toBe(ra.body);
    const result = JSON.parse(ra.body).result;
    if (modern) expect(result).toMatchObject({ ttlMs: 300_000, cacheScope: 'public' });
    else {
      expect(result.ttlMs).toBeUndefined();
      expect(result.cacheScope).toBeUndefined();
    }
  });

  it('server/discover is cacheable and names the server with its icon, a small SVG data URI', async () => {
    const [ra, rb] = await Promise.all([list(a, true, 'server/discover'), list(b, true, 'server/discover')]);
    expect(ra.body).toBe(rb.body);
    const result = JSON.parse(ra.body).result;
    expect(result).toMatchObject({ ttlMs: 300_000, cacheScope: 'public' });
    const icons = result.serverInfo?.icons ?? result._meta?.['io.modelcontextprotocol/serverInfo']?.icons;
    expect(icons).toHaveLength(1);
    expect(icons[0].mimeType).toBe('image/svg+xml');
    expect(icons[0].src).toMatch(/^data:image\/svg\+xml;base64,/);
    const svg = Buffer.from(icons[0].src.split(',')[1], 'base64').toString('utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(icons[0].src.length).toBeLessThan(1024);
  });
});
