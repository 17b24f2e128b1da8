import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../src/toolkit/all-tools.js';
import { describedOutput } from '../src/toolkit/listing.js';
import { type Connected, connectStdio, liveEnv } from './helpers/mcp.js';

// The tools/list the client sees, committed: a schema change is always a reviewed change.
// Refresh deliberately with UPDATE_SNAPSHOTS=1 npx vitest run test/tools-snapshot.test.ts
const SNAP = new URL('./snapshots/tools-list.json', import.meta.url);

describe('tools/list snapshot', () => {
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
});
