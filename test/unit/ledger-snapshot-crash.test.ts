/**
 * kill -9 of a process writing the file ledger and its snapshot, at random moments (mid-line,
 * mid-snapshot, between the snapshot's rename and anything else), round after round on one data
 * dir: every entry the writer was told is durable is found by the next start, with the outcome
 * it was told is written, and a start from whatever snapshot survived sees what a full read sees.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/safety/ledger.js';
import { ALL } from '../../src/safety/ledger-index.js';
import { tempDir } from '../fixtures/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
let writer: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  const dir = tempDir();
  const entry = join(dir, 'writer.ts');
  // Puts attempts (half of them settled), says on stdout what resolved, and takes snapshots
  // all the while, some awaited, some in the background.
  writeFileSync(
    entry,
    `import { FileStore } from ${JSON.stringify(join(ROOT, 'src/safety/file-store.ts'))};
     import { PROCESS_OWNER } from ${JSON.stringify(join(ROOT, 'src/safety/dir-lock.ts'))};
     const [dir, tag] = process.argv.slice(2);
     const s = new FileStore(dir);
     const say = (l: string) => process.stdout.write(l + '\\n');
     say('ready');
     for (let i = 0; ; i++) {
       const now = Date.now();
       const e = { key: tag + '-' + i, fingerprint: 'fp-' + tag + '-' + i, tool: 'redeem_points',
         customer: 'id:' + (i % 5), points: 1, status: 'pending' as const, at: now, updated: now,
         agent_key: false, owner: PROCESS_OWNER };
       await s.put(e);
       say('P ' + e.key);
       if (i % 2) { await s.settle({ ...e, status: 'succeeded', result: { i } }); say('S ' + e.key); }
       if (i % 40 === 7) void s.writeSnapshot().catch(() => {});
       if (i % 97 === 3) await s.writeSnapshot();
     }`,
  );
  writer = join(dir, 'writer.mjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: writer,
    logLevel: 'warning',
  });
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Runs the writer until killed at `afterMs` past its start; what it said resolved. */
function runAndKill(
  dir: string,
  tag: string,
  afterMs: number,
): Promise<{ put: string[]; settled: string[] }> {
  return new Promise((resolve, reject) => {
    const cp = spawn(process.execPath, [writer, dir, tag], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(cp);
    let out = '';
    cp.stdout!.setEncoding('utf8');
    cp.stdout!.on('data', (d: string) => {
      if (!out && d.startsWith('ready')) setTimeout(() => cp.kill('SIGKILL'), afterMs);
      out += d;
    });
    cp.on('error', reject);
    cp.on('exit', () => {
      // Only whole lines: a line cut by the kill was never finished being said.
      const lines = out.split('\n').slice(0, -1);
      resolve({
        put: lines.filter((l) => l.startsWith('P ')).map((l) => l.slice(2)),
        settled: lines.filter((l) => l.startsWith('S ')).map((l) => l.slice(2)),
      });
    });
  });
}

const look = (s: FileStore, keys: string[]) =>
  s.peek((v) => ({
    keys: keys.map((k) => v.byKey(k)?.status ?? 'missing'),
    sums: ['id:0', 'id:1', 'id:2', 'id:3', 'id:4', ALL].map((c) => v.spentSince(c, 0)),
    open: v.unresolved(['id:0', 'id:1', 'id:2', 'id:3', 'id:4']).length,
  }));

describe('file ledger snapshot, kill -9', () => {
  it('no entry the writer was told is durable is lost, whatever moment the kill hit', async () => {
    const dir = tempDir();
    const put: string[] = [];
    const settled = new Set<string>();
    let fromSnapshot = 0;
    for (let round = 0; round < 8; round++) {
      const r = await runAndKill(dir, `r${round}`, 80 + Math.floor(Math.random() * 400));
      put.push(...r.put);
      for (const k of r.settled) settled.add(k);
      const s = new FileStore(dir);
      const full = new FileStore(dir, undefined, undefined, undefined, undefined, { snapshot: false });
      try {
        if (s.loadedFrom?.snapshot) fromSnapshot++;
        const got = await look(s, put);
        // Every put is there; every settled one reads succeeded (the others: unknown, or a
        // success whose confirmation the kill cut off).
        got.keys.forEach((status, i) => {
          expect(status).not.toBe('missing');
          if (settled.has(put[i])) expect(status).toBe('succeeded');
        });
        expect(got).toEqual(await look(full, put));
      } finally {
        await full.close();
        await s.close();
      }
    }
    expect(put.length).toBeGreaterThan(50);
    // The starts used a snapshot at least once (else this proved nothing about it).
    expect(fromSnapshot).toBeGreaterThan(0);
    // Temporary files of killed writers are gone once a start has run.
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  }, 120_000);
});
