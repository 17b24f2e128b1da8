import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';
import { describedOutput } from '../../src/toolkit/listing.js';
import { liveEnv } from '../fixtures/canary.js';
import { type Connected, connectStdio } from '../fixtures/clients.js';

// The tools/list the client sees, committed: a schema change is always a reviewed change.
// Refresh deliberately with UPDATE_SNAPSHOTS=1 npx vitest run test/integration/tools-list.test.ts
const SNAP = new URL('../snapshots/tools-list.json', import.meta.url);

describe('tools/list', () => {
  let mcp: Connected;
  beforeAll(async () => {
    mcp = await connectStdio(liveEnv('http://127.0.0.1:9'));
  });
  afterAll(async () => mcp?.close());

  it('matches the committed snapshot', async () => {
    const { tools } = await mcp.client.listTools();
    const text = `${JSON.stringify(tools, null, 2)}\n`;
    if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(SNAP, text);
    expect(existsSync(SNAP), 'snapshot missing: run with UPDATE_SNAPSHOTS=1 and commit it').toBe(true);
    expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(SNAP, 'utf8')));
  });

  it('lists every argument described, and output fields by type (their descriptions live in the code and docs/tools.md)', async () => {
    const { tools } = await mcp.client.listTools();
    const undescribed: string[] = [];
    const described: string[] = [];
    const walk = (s: any, path: string, out: string[], want: boolean) => {
      for (const [k, p] of Object.entries<any>(s?.properties ?? {})) {
        if (!!p.description !== want) out.push(`${path}.${k}`);
        walk(p, `${path}.${k}`, out, want);
        if (p.items) walk(p.items, `${path}.${k}[]`, out, want);
      }
    };
    for (const t of tools) {
      walk(t.inputSchema, `${t.name}.in`, undescribed, true);
      walk(t.outputSchema, `${t.name}.out`, described, false);
    }
    expect(undescribed).toEqual([]);
    expect(described).toEqual([]);
    // The source schemas still describe every output field (the "Returns" tables in docs/tools.md).
    for (const tool of ALL_TOOLS) walk(describedOutput(tool), `${tool.name}.out`, undescribed, true);
    expect(undescribed).toEqual([]);
  });

  it('lists the tools with output schemas and annotations', async () => {
    const { tools } = await mcp.client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of [
      'redeem_points',
      'request_points_redemption',
      'update_redemption',
      'unlock_promised_points',
    ])
      expect(names).toContain(n);
    // Annotations are listed where they differ from the MCP defaults; readOnlyHint always, and
    // destructiveHint on every writing tool. This is what a client reads them as.
    const SPEC_DEFAULTS = {
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
      openWorldHint: true,
    };
    const hints = (name: string) => ({
      ...SPEC_DEFAULTS,
      ...tools.find((t) => t.name === name)?.annotations,
    });
    for (const t of tools) {
      expect(t.outputSchema?.type).toBe('object');
      expect(hints(t.name).openWorldHint).toBe(true);
      expect(typeof t.annotations?.readOnlyHint).toBe('boolean');
      if (!t.annotations?.readOnlyHint) expect(typeof t.annotations?.destructiveHint).toBe('boolean');
    }
    expect(hints('redeem_points')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: false,
    });
    expect(hints('update_redemption')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
    });
    expect(hints('unlock_promised_points')).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
    });
    expect(hints('get_points_balance').readOnlyHint).toBe(true);
  });
});
