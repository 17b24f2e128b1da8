import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CANARY, liveEnv, Sweep } from '../fixtures/canary.js';
import { readLedger } from '../fixtures/data-dir.js';
import {
  basicHeader,
  CapillaryModel,
  FakeCapillary,
  REDEEM,
  redeemRefused,
} from '../fixtures/fake-capillary.js';
import { sleep, within } from '../fixtures/lifecycle.js';
import { fdCount, LOOP_TIMEOUT_MS, rssKiB, SCALE, writeFigures } from './support.js';

/**
 * Load over the Streamable HTTP transport: thousands of mixed tool calls at high concurrency
 * against `node dist/cli.js --http --port 0` (loopback, a fake Capillary in this process).
 * Zero errors other than the expected ones; every money operation spent exactly once; the
 * child's RSS back near where it started and no file descriptors left open afterwards.
 */

const CALLS = 3000 * SCALE;
const CONCURRENCY = 64;
const TIME_LIMIT_MS = 120_000 * SCALE;
const BEARER = 'canary-http-bearer-0b7e5d1c9a';
/** The quiet phase runs in rounds, the server's heap measured after each. */
const ROUNDS = 6;
const PER_ROUND = Math.ceil(CALLS / ROUNDS);
/**
 * Allowed heap growth per quiet round (PER_ROUND calls), as the median of the slopes between
 * rounds: 75 KiB, about 0.15 KiB per call at the default size (the rounds grow with
 * RELIABILITY_SCALE, and the bound with them). Clean runs on a busy 2-core machine: 20-40 KiB.
 */
const LEAK_SLOPE_KIB = 75 * SCALE;

const GC_PRELOAD = resolve(import.meta.dirname, './gc-preload.mjs');
// The HTTP transport was written alongside these suites: skip (loudly) rather than fail without it.
const hasHttp =
  typeof ((await import('../../src/mcp/http/server.js').catch(() => ({}))) as { startHttpServer?: unknown })
    .startHttpServer === 'function';

const sweep = new Sweep();
sweep.addSecret(BEARER);
const figures: Record<string, number> = {
  toolCalls: 0,
  expectedErrors: 0,
  unexpectedErrors: 0,
  doubleSpends: 0,
};

/** The server's heap after GC (without compiled code) after each quiet round, for the figures. */
const heapRoundsKiB: number[] = [];

afterAll(() => {
  const leaks = sweep.check();
  writeFigures({
    suite: 'load',
    ...figures,
    doubleSpends: figures.doubleSpends,
    heapRoundsKiB,
    leaks: leaks.length,
    scanned: sweep.scannedItems,
  });
  expect(leaks).toEqual([]);
});

type Expect = { ok: true } | { code: string } | { rpc: number };
interface Job {
  tool: string;
  args: Record<string, unknown>;
  expect: Expect;
  /** A money operation, counted at the fake. */
  op?: string;
}

const cust = (i: number) => ({ mobile: `9190001${String(i % 1000).padStart(5, '0')}` });
const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** Call i of the mix: all nine tools, repeats, dry runs, refusals and an upstream failure. */
function job(i: number): Job {
  switch (i % 16) {
    case 0:
      return {
        tool: 'get_points_balance',
        args: { identifier_name: 'mobile', identifier_value: cust(i).mobile },
        expect: { ok: true },
      };
    case 1:
      return {
        tool: 'check_points_redeemable',
        args: { customer: cust(i), points: 12.5 },
        expect: { ok: true },
      };
    case 2:
      return { tool: 'issue_redemption_code', args: { customer: cust(i), points: 10 }, expect: { ok: true } };
    case 3:
      return {
        tool: 'redeem_points',
        // Each operation its own points: repeats are recognised by meaning (customer, points), not notes.
        args: { customer: cust(i), points: Number((1 + i / 1000).toFixed(3)), notes: `load-${i}` },
        expect: { ok: true },
        op: `load-${i}`,
      };
    case 4: {
      // Twenty operations repeated all run long: in flight together or replayed, spent once each.
      const k = i % 20;
      return {
        tool: 'redeem_points',
        args: { customer: cust(k), points: 7, notes: `repeat-${k}` },
        expect: { ok: true },
        op: `repeat-${k}`,
      };
    }
    case 5:
      return {
        tool: 'redeem_points',
        args: { customer: cust(i), points: 3, dry_run: true },
        expect: { ok: true },
      };
    case 6:
      return {
        tool: 'request_points_redemption',
        args: {
          entity: { till_id: 't1' },
          customer: cust(i),
          points: Number((2 + i / 1000).toFixed(3)),
          notes: `req-${i}`,
        },
        expect: { ok: true },
        op: `req-${i}`,
      };
    case 7:
      return { tool: 'get_redemption_request', args: { request_id: uuid(i) }, expect: { ok: true } };
    case 8:
      return {
        tool: 'update_redemption',
        args: { redemption_id: `r${i}`, bill_id: '9223372036854775807', purpose: 'load' },
        expect: { ok: true },
      };
    case 9:
      return {
        tool: 'unlock_promised_points',
        args: {
          identifier_name: 'mobile',
          identifier_value: cust(i).mobile,
          source: 'INSTORE',
          event_name: 'TransactionAdd',
          bill_number: `B-${i}`,
        },
        expect: { ok: true },
      };
    case 10:
      return {
        tool: 'reverse_redemption',
        args: { redemption_id: `rv${i}`, customer: cust(i), points: 1 },
        expect: { ok: true },
      };
    case 11:
      return { tool: 'redeem_points', args: { customer: cust(i), points: 1.0005 }, expect: { code: '878' } };
    case 12:
      return {
        tool: 'update_redemption',
        args: { redemption_id: 'a', external_reference_number: 'b', purpose: 'x' },
        expect: { code: '749' },
      };
    case 13:
      return {
        tool: 'redeem_points',
        args: { customer: { mobile: '919000000803' }, points: 5, notes: `poor-${i}` },
        expect: { code: '803' },
      };
    case 14:
      return { tool: 'no_such_tool', args: {}, expect: { rpc: -32602 } };
    default:
      return {
        tool: 'get_points_balance',
        args: { identifier_name: 'mobile', identifier_value: cust(i).mobile, extra: 1 },
        expect: { code: 'invalid_argument' },
      };
  }
}

/** Calls that add nothing to the ledger (reads, replays, dry runs, refusals, updates): memory must
 * not grow. A validation code (job 2) is counted in the ledger, for the per-customer rate. */
const NO_LEDGER = [0, 1, 4, 5, 7, 8, 9, 11, 12, 14, 15];
const quietJob = (i: number) => job(16 * Math.floor(i / NO_LEDGER.length) + NO_LEDGER[i % NO_LEDGER.length]);

/** Distinct idempotency keys in the ledger's files (every segment). */
const ledgerKeys = (dir: string) => new Set(readLedger(dir).map((e) => e.key)).size;

/** POST one JSON-RPC message to /mcp; the answer comes as JSON or as an SSE stream. */
function post(
  agent: Agent,
  url: URL,
  body: string,
): Promise<{ status: number; message?: any; text: string }> {
  return new Promise((resolveP, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${BEARER}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          let message: any;
          const data = text
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6));
          try {
            message = JSON.parse(data.length ? data[data.length - 1] : text);
          } catch {}
          resolveP({ status: res.statusCode ?? 0, message, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.skipIf(!hasHttp)('load over Streamable HTTP', () => {
  it(
    `${2 * CALLS} mixed calls at concurrency ${CONCURRENCY}: only the expected errors, one spend per operation, memory and fds back`,
    async () => {
      const { spawnHttp } = await import('../fixtures/cli.js');
      const cap = new CapillaryModel(
        { basic: basicHeader(CANARY.user, CANARY.password) },
        { orgId: '777', uiToken: CANARY.uiToken },
      );
      // A customer without enough points: the API's business refusal, an expected error.
      const fake = await new FakeCapillary((req, n) => {
        if (req.path === REDEEM && req.body.includes('919000000803'))
          return { status: 400, json: redeemRefused(803, 'Insufficient points for redemption') };
        return cap.handle(req, n);
      }).start();
      const env = liveEnv(fake.url, {
        CAPILLARY_LOG_LEVEL: 'warn',
        MCP_HTTP_TOKEN: BEARER,
        // Codes are sent by the thousand here: the per-customer rate is not what this measures.
        CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR: '1000000',
        NODE_OPTIONS: `--import=${GC_PRELOAD}`,
      });
      const srv = await spawnHttp(env);
      const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
      const url = new URL(srv.url);
      const pid = srv.proc.pid!;
      const unexpected: string[] = [];
      const samples: number[] = [];
      try {
        let id = 0;
        let pick = job;
        const runOne = async (i: number) => {
          const j = pick(i);
          const r = await within(
            post(
              agent,
              url,
              JSON.stringify({
                jsonrpc: '2.0',
                id: ++id,
                method: 'tools/call',
                params: { name: j.tool, arguments: j.args },
              }),
            ),
            30_000,
            `call ${i}`,
          );
          figures.toolCalls++;
          const res = r.message?.result;
          sweep.add(`load result ${j.tool}`, r.text);
          if ('rpc' in j.expect) {
            // An unknown tool is a protocol error, not a result.
            if (r.status === 200 && r.message?.error?.code === j.expect.rpc) figures.expectedErrors++;
            else
              unexpected.push(
                `${i} ${j.tool}: expected JSON-RPC error ${j.expect.rpc}, got ${r.text.slice(0, 200)}`,
              );
            return;
          }
          if (r.status !== 200 || !res) {
            unexpected.push(`${i} ${j.tool}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
            return;
          }
          if ('ok' in j.expect) {
            if (res.isError)
              unexpected.push(`${i} ${j.tool}: ${JSON.stringify(res.structuredContent?.error)}`);
          } else if (!res.isError || res.structuredContent?.error?.code !== j.expect.code) {
            unexpected.push(
              `${i} ${j.tool}: expected error ${j.expect.code}, got ${JSON.stringify(res.structuredContent).slice(0, 200)}`,
            );
          } else figures.expectedErrors++;
        };
        const runBatch = async (from: number, count: number, deadline: number) => {
          let next = from;
          const worker = async () => {
            while (next < from + count && Date.now() < deadline) await runOne(next++);
          };
          await Promise.all(Array.from({ length: CONCURRENCY }, worker));
        };
        /** The fds open in the quiet state after warm-up (known once measured). */
        let fd0 = Number.POSITIVE_INFINITY;
        const quiesce = async () => {
          agent.destroy();
          // The server's idle keep-alive sockets to the upstream would stay for the upstream's
          // 60 s keep-alive: close them from the upstream's side, so the fd counts compare files
          // and sockets in use, not the size the connection pool reached.
          await sleep(500);
          fake.closeIdle();
          await sleep(500);
          // The server sees the closes on its own schedule; a loaded machine runs it late. Until
          // it has, the sockets' objects are still alive and would count as heap kept.
          for (let t = 0; t < 100 && fdCount(pid) > fd0; t++) await sleep(100);
        };
        /**
         * Full GC in the child (test-only preload, on SIGUSR2), then its heap and RSS, and the heap
         * without compiled code (`objects`), in KiB.
         */
        const settled = async () => {
          const seen = (srv.stderr().match(/\[gc-preload\]/g) ?? []).length;
          process.kill(pid, 'SIGUSR2');
          for (let t = 0; t < 200 && (srv.stderr().match(/\[gc-preload\]/g) ?? []).length === seen; t++)
            await sleep(10);
          const all = [...srv.stderr().matchAll(/\[gc-preload\] heapUsed=(\d+) .* objects=(\d+)/g)];
          const last = all[all.length - 1];
          return { heap: Number(last[1]) / 1024, objects: Number(last[2]) / 1024, rss: rssKiB(pid) };
        };

        // Warm-up (JIT, pools, caches), then the baseline in a quiet state.
        const WARMUP = 1000;
        await runBatch(0, WARMUP, Date.now() + 60_000);
        await quiesce();
        const base = await settled();
        fd0 = fdCount(pid);
        const spends0 = cap.spends.length;
        const keys0 = ledgerKeys(env.CAPILLARY_DATA_DIR);

        // Phase A: the full mix, money included.
        const t0 = Date.now();
        const sampler = setInterval(() => samples.push(rssKiB(pid)), 100);
        await runBatch(WARMUP, CALLS, t0 + TIME_LIMIT_MS);
        const seconds = (Date.now() - t0) / 1000;
        await quiesce();
        const mid = await settled();
        const keys1 = ledgerKeys(env.CAPILLARY_DATA_DIR);
        // Phase B: as many calls again that add nothing to the ledger, in rounds, the heap measured
        // after each. Any memory kept now is a leak, and a leak grows round after round.
        pick = quietJob;
        const deadlineB = Date.now() + TIME_LIMIT_MS;
        const rounds: number[] = [];
        let end = mid;
        for (let r = 0; r < ROUNDS; r++) {
          await runBatch(r * PER_ROUND, Math.min(PER_ROUND, CALLS - r * PER_ROUND), deadlineB);
          await quiesce();
          end = await settled();
          rounds.push(end.objects);
        }
        clearInterval(sampler);
        const fd1 = fdCount(pid);
        const rss0 = base.rss;
        const rss1 = end.rss;
        expect(ledgerKeys(env.CAPILLARY_DATA_DIR)).toBe(keys1);
        figures.seconds = Math.round(seconds * 10) / 10;
        figures.callsPerSecond = Math.round(CALLS / seconds);
        figures.rssStartMiB = Math.round(rss0 / 102.4) / 10;
        figures.rssPeakMiB = Math.round(Math.max(rss0, ...samples) / 102.4) / 10;
        figures.rssEndMiB = Math.round(rss1 / 102.4) / 10;
        figures.heapStartMiB = Math.round(base.heap / 102.4) / 10;
        figures.heapEndMiB = Math.round(end.heap / 102.4) / 10;
        figures.fdStart = fd0;
        figures.fdEnd = fd1;
        figures.unexpectedErrors = unexpected.length;
        const newSpends = cap.spends.length - spends0;
        const newKeys = keys1 - keys0;
        figures.heapMidMiB = Math.round(mid.heap / 102.4) / 10;
        heapRoundsKiB.push(...rounds.map(Math.round));
        figures.spendsDuringLoad = newSpends;
        figures.ledgerEntriesAdded = newKeys;

        expect(unexpected.slice(0, 10)).toEqual([]);
        expect(unexpected.length).toBe(0);
        expect(figures.toolCalls).toBe(2 * CALLS + WARMUP);
        // Every money operation reached the API once; the twenty repeated ones too.
        const ops = new Map<string, number>();
        for (const s of cap.spends) if (s.notes) ops.set(s.notes, (ops.get(s.notes) ?? 0) + 1);
        figures.doubleSpends = [...ops.values()].filter((n) => n > 1).length;
        expect(figures.doubleSpends).toBe(0);
        expect(ops.size).toBe(
          Array.from({ length: CALLS + WARMUP }, (_, i) => job(i).op).filter(
            (o, k, a) => o && a.indexOf(o) === k,
          ).length,
        );
        // No file descriptor left open.
        expect(fd1, `fds start ${fd0}, end ${fd1}`).toBeLessThanOrEqual(fd0);
        // No leak: phase B added nothing to the ledger, so nothing may stay. One measurement after
        // GC can be off by a few hundred KiB on a busy machine, either way (work not yet let go, a
        // collection that happened to free more), while a leak raises every later round by the
        // same amount: so the trend is measured as the median of the slopes between every two
        // rounds (Theil-Sen), which one odd round cannot move (heap without compiled code, which
        // the JIT keeps adding to for a long while). A leak of 0.23 KiB per call is ~115 KiB a
        // round here; clean runs measured 20-40 KiB a round, with one round 300 KiB low.
        const slopes: number[] = [];
        for (let a = 0; a < ROUNDS; a++)
          for (let b = a + 1; b < ROUNDS; b++) slopes.push((rounds[b] - rounds[a]) / (b - a));
        slopes.sort((x, y) => x - y);
        const perRound = (slopes[(slopes.length - 1) >> 1] + slopes[slopes.length >> 1]) / 2;
        expect(
          perRound,
          `heap after GC, round by round (${PER_ROUND} calls each): ${rounds.map(Math.round).join(', ')} KiB; median slope ${Math.round(perRound)} KiB a round`,
        ).toBeLessThanOrEqual(LEAK_SLOPE_KIB);
        // Back near the start: what stays by design is the ledger's in-memory index, one entry per
        // money attempt (~2.2 KiB measured, 3 KiB allowed), plus 2 MiB of slack.
        expect(end.heap, `heap after GC: start ${base.heap} KiB, end ${end.heap} KiB`).toBeLessThanOrEqual(
          base.heap + newKeys * 3 + 2 * 1024,
        );
        // RSS is only a gross bound: after a concurrency-64 burst the allocator keeps freed pages
        // (a clean CI run measured +43 MiB with the heap back within 2 MiB), so the leak checks are
        // the heap ones above; this one catches a leak of ~10 KiB per call or more.
        expect(rss1, `RSS after GC: start ${rss0} KiB, end ${rss1} KiB`).toBeLessThanOrEqual(
          rss0 + newKeys * 3 + 64 * 1024,
        );
      } finally {
        agent.destroy();
        await srv.stop();
        await fake.close();
        sweep.add('http server stderr', srv.stderr());
        sweep.addDir('http data dir', env.CAPILLARY_DATA_DIR);
      }
    },
    60_000 + LOOP_TIMEOUT_MS,
  );
});
