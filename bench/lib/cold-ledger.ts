// Cold start of a stdio server on a file ledger that already holds n lines of the day: spawn to
// the tools/list answer (and the RSS then), spawn to the answer of the first redemption (the
// ledger must be loaded for it) and the peak RSS by then. Each size twice: as a restart finds it
// (the `ledger.snapshot` an earlier run left; the first, unmeasured spawn writes it) and with the
// snapshot removed before each spawn (every line read).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { memOf, spawnTracked, stop } from './proc.js';
import { okResult, PROTOCOL_VERSION, StdioRpc } from './rpc.js';
import { type Dist, dist, fmt, ms, round } from './stats.js';

const DAY_MS = 86_400_000;

/**
 * A ledger of `lines` lines in today's segment: redemptions of 10,000 customers over the last
 * hour, each a pending line and its success (with a result like the sandbox's), as the server
 * writes them; their writer is gone.
 */
export function writeLedger(dir: string, lines: number, now = Date.now()): void {
  mkdirSync(dir, { recursive: true });
  const day = new Date(Math.floor(now / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
  const fd = openSync(join(dir, `ledger-${day}.jsonl`), 'w', 0o600);
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  try {
    let out = '';
    const attempts = Math.floor(lines / 2);
    for (let i = 0; i < attempts; i++) {
      const c = 100_000 + (i % 10_000);
      const at = now - 3_600_000 + Math.floor((i * 3_000_000) / Math.max(1, attempts));
      const e = {
        key: `gen-${i}`,
        fingerprint: h(`f${i}`),
        meaning: h(`m${i}`),
        tool: 'redeem_points',
        customer: `id:${c}`,
        ids: [`mobile:91${c}0000`],
        points: 1,
        status: 'pending',
        at,
        first_at: at,
        updated: at,
        agent_key: true,
        owner: 'bench-gone:1:00000000',
      };
      const result = {
        redemption_id: `r${i}`,
        points_redeemed: 1,
        balance: 4999,
        redeemed_value: 1,
        redeemed_local_value: 1,
        user_id: String(c),
        customer: { mobile: `91${c}0000`, email: 'asha@example.com', external_id: `EXT-${c}` },
        deductions: [{ id: String(27_141_001 + i), type: 'points', points: 1, currency_value: 1 }],
        item_status: { success: true, code: 800, message: 'Points Redeemed' },
      };
      out += `${JSON.stringify(e)}\n${JSON.stringify({ ...e, status: 'succeeded', updated: at + 30, result })}\n`;
      if (out.length > 1 << 20) {
        writeSync(fd, out);
        out = '';
      }
    }
    if (out) writeSync(fd, out);
  } finally {
    closeSync(fd);
  }
}

export interface ColdLedgerDeps {
  sizes: number[];
  /** Measured spawns per size and mode (one more, unmeasured, first). */
  spawns: (lines: number) => number;
  say(s: string): void;
  /** The server's environment on this data dir. */
  env(dataDir: string): Record<string, string>;
  cli: string;
  work: string;
  redeemArgs(tag: string): Record<string, unknown>;
}

interface Spawn {
  list: number;
  rss: number;
  redeem: number;
  hwm: number;
}

async function once(d: ColdLedgerDeps, dir: string, tag: string): Promise<Spawn> {
  const t0 = ms();
  const cp = spawnTracked(process.execPath, [d.cli], { env: d.env(dir) });
  const rpc = new StdioRpc(cp);
  try {
    const init = rpc.request(
      'initialize',
      { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'cold', version: '1' } },
      120_000,
    );
    await rpc.notify('notifications/initialized');
    const list = rpc.request('tools/list', {}, 120_000);
    okResult(await init);
    okResult(await list);
    const tList = ms() - t0;
    const rss = memOf(cp.pid)?.rssMb ?? Number.NaN;
    const r = okResult(
      await rpc.request('tools/call', { name: 'redeem_points', arguments: d.redeemArgs(tag) }, 300_000),
    );
    const tRedeem = ms() - t0;
    if (r?.isError) throw new Error(`redeem failed: ${JSON.stringify(r).slice(0, 300)}`);
    const hwm = memOf(cp.pid)?.hwmMb ?? Number.NaN;
    return { list: tList, rss, redeem: tRedeem, hwm };
  } catch (e) {
    throw new Error(`cold start on ${dir} failed: ${(e as Error).message}\n${cp.tail()}`);
  } finally {
    // Time for a graceful close: it may write the snapshot (seconds at a million lines).
    await stop(cp, 120_000);
  }
}

export async function coldLedger(
  d: ColdLedgerDeps,
): Promise<{ results: Record<string, any>; rows: string[][]; ratio?: { lines: number; ratio: number } }> {
  const results: Record<string, any> = {};
  const rows: string[][] = [];
  let base: Dist | undefined;
  let ratio: { lines: number; ratio: number } | undefined;
  for (const lines of d.sizes) {
    const dir = join(d.work, `cold-ledger-${lines}`);
    rmSync(dir, { recursive: true, force: true });
    const tg = ms();
    writeLedger(dir, lines);
    d.say(`cold ledger: ${lines} lines written in ${fmt((ms() - tg) / 1000, 1)} s`);
    for (const mode of ['snapshot', 'full read'] as const) {
      if (lines === 0 && mode === 'full read') continue;
      const got: Spawn[] = [];
      const n = d.spawns(lines);
      for (let i = 0; i <= n; i++) {
        if (mode === 'full read') rmSync(join(dir, 'ledger.snapshot'), { force: true });
        const s = await once(d, dir, `cold${lines}`);
        if (i > 0) got.push(s);
      }
      const snap = existsSync(join(dir, 'ledger.snapshot'));
      const [list, redeem] = [dist(got.map((g) => g.list)), dist(got.map((g) => g.redeem))];
      const rss = dist(got.map((g) => g.rss)).p50;
      const hwm = Math.max(...got.map((g) => g.hwm));
      results[`${lines}${mode === 'full read' ? '_full_read' : ''}`] = {
        lines,
        mode,
        n: got.length,
        tools_list_p50_ms: round(list.p50, 1),
        tools_list_p90_ms: round(list.p90, 1),
        rss_after_tools_list_mb: round(rss, 1),
        first_redeem_p50_ms: round(redeem.p50, 1),
        peak_rss_mb: round(hwm, 1),
        snapshot_left: snap,
      };
      if (lines === 0) base = list;
      const vs = base ? `${fmt(list.p50 / base.p50, 2)}x` : '';
      if (base && mode === 'snapshot' && lines === d.sizes[d.sizes.length - 1])
        ratio = { lines, ratio: list.p50 / base.p50 };
      rows.push([
        String(lines),
        lines ? mode : '',
        fmt(list.p50, 1),
        vs,
        fmt(rss, 1),
        fmt(redeem.p50, 1),
        fmt(hwm, 1),
        String(got.length),
      ]);
      d.say(
        `cold ledger: ${lines} lines, ${mode}: tools/list p50 ${fmt(list.p50, 1)} ms, first redeem ${fmt(redeem.p50, 1)} ms, peak ${fmt(hwm, 1)} MB`,
      );
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { results, rows, ratio };
}
