// `npm run bench [-- --smoke]`: tool-call overhead, cold start, context cost, HTTP throughput and
// ledger cost, measured in one run against the embedded sandbox on loopback. Prints a table and
// writes bench/results.json (bench/results.smoke.json with --smoke). See docs/performance.md.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { ofetch } from 'ofetch';
import { createApp } from '../src/app.js';
import { CapillaryClient } from '../src/capillary/client.js';
import { loadConfig } from '../src/config.js';
import { Logger } from '../src/log.js';
import { callTool as pipelineCall } from '../src/pipeline/call.js';
import { Redactor } from '../src/safety/redact.js';
import { basicAuthHeader, SANDBOX_CREDENTIALS } from '../src/sandbox/credentials.js';
import { ALL_TOOLS } from '../src/toolkit/all-tools.js';
import {
  cleanup,
  cleanupSync,
  liveChildren,
  memOf,
  spawnTracked,
  stop,
  tempDir,
  waitExit,
  waitStderr,
} from './lib/proc.js';
import { callTool, HttpRpc, handshake, okResult, PROTOCOL_VERSION, type Rpc, StdioRpc } from './lib/rpc.js';
import { type Dist, dist, fmt, mdTable, ms, round, table, type Window } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// options

interface Opts {
  smoke: boolean;
  /** Measured sequential calls per path (latency). */
  iterations: number;
  warmup: number;
  /** Spawns per cold-start variant. */
  cold: number;
  /** Seconds per throughput window. */
  seconds: number;
  fsyncs: number;
  only?: Set<string>;
  out: string;
  strict: boolean;
  markdown: boolean;
  /** Hard limit on the whole run. */
  limitS: number;
}

const SECTIONS = [
  'fsync',
  'latency',
  'cold',
  'coldledger',
  'context',
  'throughput',
  'ledger',
  'stores',
  'caps',
] as const;
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');

function parseArgs(argv: string[]): Opts {
  const smoke = argv.includes('--smoke');
  const o: Opts = smoke
    ? {
        smoke,
        iterations: 20,
        warmup: 5,
        cold: 3,
        seconds: 0.5,
        fsyncs: 20,
        out: 'bench/results.smoke.json',
        strict: false,
        markdown: false,
        limitS: 120,
      }
    : {
        smoke,
        iterations: 2000,
        warmup: 200,
        cold: 20,
        seconds: 5,
        fsyncs: 300,
        out: 'bench/results.json',
        strict: false,
        markdown: false,
        limitS: 900,
      };
  for (const a of argv) {
    const [k, v] = a.split('=', 2);
    const n = Number(v);
    const int = () => {
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} needs a positive number`);
      return n;
    };
    if (k === '--smoke') continue;
    else if (k === '--iterations') o.iterations = Math.round(int());
    else if (k === '--warmup') o.warmup = Math.round(n) || 0;
    else if (k === '--cold') o.cold = Math.round(int());
    else if (k === '--seconds') o.seconds = int();
    else if (k === '--fsyncs') o.fsyncs = Math.round(int());
    else if (k === '--only') {
      o.only = new Set(v.split(','));
      const bad = [...o.only].filter((x) => !(SECTIONS as readonly string[]).includes(x));
      if (bad.length)
        throw new Error(`--only: unknown section(s) ${bad.join(', ')} (known: ${SECTIONS.join(', ')})`);
    } else if (k === '--out') o.out = v;
    else if (k === '--strict') o.strict = true;
    else if (k === '--markdown') o.markdown = true;
    else if (k === '--limit') o.limitS = int();
    else if (k === '--help') {
      process.stdout.write(
        `npm run bench -- [--smoke] [--iterations=N] [--warmup=N] [--cold=N] [--seconds=S] [--fsyncs=N]\n` +
          `                 [--only=${SECTIONS.join(',')}] [--out=FILE] [--strict] [--markdown] [--limit=S]\n`,
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (try --help)`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const want = (s: (typeof SECTIONS)[number]) => !opts.only || opts.only.has(s);
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------------------------------------
// the sandbox, its customers and the server processes

/** Customers with a balance no run can spend (1e12 points), one per concurrent worker. */
const CUSTOMERS = Array.from({ length: 80 }, (_, i) => ({
  id: 90_000 + i,
  mobile: `9188${String(i).padStart(8, '0')}`,
  points: '1000000000000',
}));
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
/** A fresh idempotency key: every measured redemption is a new one, never a replay. */
const freshKey = (tag: string) => `bench-${RUN}-${tag}-${++seq}`;

const readArgs = (c = 0) => ({ identifier_name: 'mobile', identifier_value: CUSTOMERS[c].mobile });
const redeemArgs = (c: number, tag: string) => ({
  customer: { mobile: CUSTOMERS[c].mobile },
  points: 1,
  external_reference_number: freshKey(tag),
});

interface Env {
  work: string;
  sandboxUrl: string;
}

function serverEnv(
  env: Env,
  ledger: 'file' | 'memory' | 'postgres',
  extra: Record<string, string> = {},
): Record<string, string> {
  const c = SANDBOX_CREDENTIALS;
  return {
    PATH: process.env.PATH ?? '',
    HOME: env.work,
    CAPILLARY_BASE_URL: env.sandboxUrl,
    CAPILLARY_USERNAME: c.username,
    CAPILLARY_PASSWORD: c.password,
    CAPILLARY_ORG_ID: c.orgId,
    CAPILLARY_UI_AUTH_TOKEN: c.uiAuthToken,
    CAPILLARY_DATA_DIR: freshDir(env, 'data'),
    CAPILLARY_LEDGER: ledger,
    ...extra,
  };
}

let dirSeq = 0;
function freshDir(env: Env, tag: string): string {
  const d = join(env.work, `${tag}-${++dirSeq}`);
  mkdirSync(d, { recursive: true });
  return d;
}

async function startSandboxChild(work: string) {
  const seed = join(work, 'seed.json');
  writeFileSync(seed, JSON.stringify({ description: 'bench: big balances', customers: CUSTOMERS }));
  const cp = spawnTracked(process.execPath, [CLI, 'sandbox', '--port', '0', '--seed', seed], {
    env: { PATH: process.env.PATH ?? '', HOME: work },
  });
  const m = await waitStderr(cp, /listening on (http:\/\/[^\s]+)/, 10_000);
  return { cp, url: m[1] };
}

async function startStdioServer(env: Record<string, string>, args: string[] = [CLI]) {
  const cp = spawnTracked(process.execPath, args, { env });
  const rpc = new StdioRpc(cp);
  try {
    await handshake(rpc);
  } catch (e) {
    throw new Error(`stdio server did not start: ${(e as Error).message}\n${cp.tail()}`);
  }
  return { cp, rpc };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Whether this build has the Streamable HTTP transport (it may land after the bench does). */
function httpAvailable(): string | undefined {
  const dir = join(ROOT, 'src', 'mcp', 'http', 'server.ts');
  if (!existsSync(dir) || !/startHttpServer/.test(readFileSync(dir, 'utf8')))
    return 'the Streamable HTTP transport (src/mcp/http/server.ts) is not in this build';
  return undefined;
}

async function startHttpServerChild(env: Record<string, string>, args = [CLI, '--http']) {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const cp = spawnTracked(process.execPath, [...args, '--port', String(port), '--host', '127.0.0.1'], {
      env,
    });
    const url = `http://127.0.0.1:${port}/mcp`;
    const deadline = ms() + 10_000;
    while (ms() < deadline && cp.exitCode === null) {
      const rpc = new HttpRpc(url, env.MCP_HTTP_TOKEN, 256);
      try {
        await handshake(rpc, 2000);
        return { cp, rpc, url };
      } catch (e) {
        lastErr = e;
        rpc.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    lastErr = new Error(`HTTP server did not answer: ${String(lastErr)}\n${cp.tail()}`);
    await stop(cp, 1000);
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------------------------
// direct calls: the same request the server sends, straight to the sandbox

const AUTH = basicAuthHeader(SANDBOX_CREDENTIALS.username, SANDBOX_CREDENTIALS.password);
const TIMEOUT_MS = 10_000;

function directClients(base: string) {
  // Same client and options as src/capillary/client.ts: ofetch.create({retry: 0, ignoreResponseError: true}),
  // text response, a timeout signal per request, undici's keep-alive pool.
  const f = ofetch.create({ retry: 0, ignoreResponseError: true });
  // The server's own client, in-process: what a call costs without MCP around it.
  const c = SANDBOX_CREDENTIALS;
  const cfg = loadConfig({
    CAPILLARY_BASE_URL: base,
    CAPILLARY_USERNAME: c.username,
    CAPILLARY_PASSWORD: c.password,
    CAPILLARY_DATA_DIR: tmpdir(),
    CAPILLARY_LOG_LEVEL: 'error',
  });
  const redactor = new Redactor([]);
  const own = new CapillaryClient(cfg, redactor, new Logger('error', redactor));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const balancePath = '/v2/customers/lookup/points/balance';
  const balanceQuery = (c: number) => ({
    source: 'INSTORE',
    identifierName: 'mobile',
    identifierValue: CUSTOMERS[c].mobile,
  });
  const check = (status: number, text: string) => {
    if (status !== 200) throw new Error(`direct call: HTTP ${status}: ${text.slice(0, 200)}`);
  };
  const redeemBody = (c: number, key: string) =>
    JSON.stringify({
      root: {
        redeem: [
          { points_redeemed: '1', customer: { mobile: CUSTOMERS[c].mobile }, external_reference_number: key },
        ],
      },
    });
  return {
    async readOfetch(c = 0) {
      const r = await f.raw(base + balancePath, {
        method: 'GET',
        query: balanceQuery(c),
        headers: { accept: 'application/json', Authorization: AUTH },
        responseType: 'text',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      check(r.status, String(r._data));
    },
    async readFetch(c = 0) {
      const r = await fetch(`${base}${balancePath}?${new URLSearchParams(balanceQuery(c))}`, {
        headers: { accept: 'application/json', Authorization: AUTH },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      check(r.status, await r.text());
    },
    readNodeHttp(c = 0): Promise<void> {
      return new Promise((resolve, reject) => {
        const u = new URL(`${base}${balancePath}?${new URLSearchParams(balanceQuery(c))}`);
        const req = http.get(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname + u.search,
            agent,
            headers: { accept: 'application/json', Authorization: AUTH },
            timeout: TIMEOUT_MS,
          },
          (res) => {
            let t = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
              t += d;
            });
            res.on('end', () => {
              try {
                check(res.statusCode ?? 0, t);
                resolve();
              } catch (e) {
                reject(e);
              }
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
    },
    async readServerClient(c = 0) {
      const r = await own.send(
        { method: 'GET', host: 'api', path: balancePath, query: balanceQuery(c) },
        { mutating: false },
      );
      check(r.status, r.text);
    },
    async redeemServerClient(c: number, tag: string) {
      const r = await own.send(
        {
          method: 'POST',
          host: 'api',
          path: '/v1.1/points/redeem',
          query: { format: 'json' },
          body: JSON.parse(redeemBody(c, freshKey(tag))),
        },
        { mutating: true },
      );
      check(r.status, r.text);
      if (!r.text.includes('"success":"true"'))
        throw new Error(`direct redeem failed: ${r.text.slice(0, 200)}`);
    },
    async redeemOfetch(c: number, tag: string) {
      const r = await f.raw(`${base}/v1.1/points/redeem`, {
        method: 'POST',
        query: { format: 'json' },
        body: redeemBody(c, freshKey(tag)),
        headers: { accept: 'application/json', 'content-type': 'application/json', Authorization: AUTH },
        responseType: 'text',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      check(r.status, String(r._data));
      if (!String(r._data).includes('"success":"true"'))
        throw new Error(`direct redeem failed: ${String(r._data).slice(0, 200)}`);
    },
    close() {
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// measurements

/** Runs every path in turn, in blocks of back-to-back calls, so drift hits all of them alike. */
async function interleaved(
  paths: Record<string, () => Promise<unknown>>,
  iterations: number,
  warmup: number,
  budgetMs: number,
  block = BLOCK,
) {
  const rewarm = block > 1 ? REWARM : 0;
  const names = Object.keys(paths);
  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const deadline = ms() + budgetMs;
  for (const n of names) for (let i = 0; i < warmup && ms() < deadline; i++) await paths[n]();
  // Paths take turns in blocks of back-to-back calls, so slow drift on a shared machine hits every
  // path alike while each is measured in its steady state. The first REWARM calls of a block are
  // not counted: they pay for waking processes that sat idle while the other paths ran (a vCPU
  // wake-up, not the server's work; see "How it is measured" in docs/performance.md). With
  // block = 1 every call is such a first call: the "sporadic" figures.
  while (names.some((n) => times[n].length < iterations) && ms() < deadline) {
    for (const n of names) {
      for (let i = 0; i < block + rewarm && times[n].length < iterations; i++) {
        const t0 = ms();
        await paths[n]();
        const dt = ms() - t0;
        if (i >= rewarm) times[n].push(dt);
      }
    }
  }
  return Object.fromEntries(names.map((n) => [n, dist(times[n])])) as Record<string, Dist>;
}
const BLOCK = 22;
const REWARM = 3;

/** `workers` loops calling `fn` for `seconds`; bounded by time and by a call cap. */
async function window(
  workers: number,
  seconds: number,
  fn: (worker: number) => Promise<unknown>,
): Promise<Window> {
  let ok = 0;
  let errors = 0;
  let first: string | undefined;
  const lat: number[] = [];
  const t0 = ms();
  const end = t0 + seconds * 1000;
  const cap = 2_000_000;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (ms() < end && ok + errors < cap) {
        const s = ms();
        try {
          await fn(w);
          ok++;
          lat.push(ms() - s);
        } catch (e) {
          errors++;
          first ??= (e as Error).message.slice(0, 300);
        }
      }
    }),
  );
  const secs = (ms() - t0) / 1000;
  const d = dist(lat);
  return {
    calls_per_s: round(ok / secs, 1),
    ok,
    errors,
    ...(first ? { first_error: first } : {}),
    seconds: round(secs, 2),
    p50_ms: round(d.p50),
    p99_ms: round(d.p99),
  };
}

/** Two windows as one: calls over seconds; latency percentiles are the worse of the two. */
function merge(ws: Window[]): Window {
  const ok = ws.reduce((a, w) => a + w.ok, 0);
  const errors = ws.reduce((a, w) => a + w.errors, 0);
  const seconds = ws.reduce((a, w) => a + w.seconds, 0);
  const first = ws.find((w) => w.first_error)?.first_error;
  return {
    calls_per_s: round(ok / seconds, 1),
    ok,
    errors,
    ...(first ? { first_error: first } : {}),
    seconds: round(seconds, 2),
    p50_ms: Math.max(...ws.map((w) => w.p50_ms)),
    p99_ms: Math.max(...ws.map((w) => w.p99_ms)),
  };
}

const call = async (rpc: Rpc, name: string, args: Record<string, unknown>) => {
  const r = okResult(await callTool(rpc, name, args));
  // A measured redemption must be a new one that moved points, not a replay from the ledger.
  if (name === 'redeem_points' && (r.structuredContent?.replayed || !r.structuredContent?.points_redeemed))
    throw new Error(`redeem_points did not redeem: ${JSON.stringify(r.structuredContent).slice(0, 300)}`);
  return r;
};

function measureFsync(dir: string, n: number): Dist {
  const f = join(dir, 'fsync-probe.jsonl');
  const fd = openSync(f, 'a');
  const line = `${JSON.stringify({ key: 'bench-fsync-probe-0000000000', fingerprint: 'f'.repeat(64), status: 'pending', at: Date.now() })}\n`;
  const t: number[] = [];
  try {
    for (let i = 0; i < n + 10; i++) {
      const s = ms();
      writeSync(fd, line);
      fdatasyncSync(fd);
      if (i >= 10) t.push(ms() - s);
    }
  } finally {
    closeSync(fd);
  }
  return dist(t);
}

/** Warm-up before each throughput window, seconds. */
const warmS = Math.min(0.5, opts.seconds / 4);

let minimalBundle: Promise<string> | undefined;
/** Bundles bench/minimal-server.ts (once) the way scripts/build.mjs bundles the CLI. */
function bundleMinimal(): Promise<string> {
  minimalBundle ??= bundleMinimalTo(tempDir('minimal'));
  return minimalBundle;
}

async function bundleMinimalTo(outDir: string): Promise<string> {
  const name = 'esbuild';
  const esbuild = (await import(name)) as typeof import('esbuild');
  const outfile = join(outDir, 'minimal-server.js');
  await esbuild.build({
    entryPoints: [join(ROOT, 'bench', 'minimal-server.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return outfile;
}

/** Spawn to the first tools/list answer over stdio; the process is stopped afterwards (not timed). */
async function coldToolsList(args: string[], env: Record<string, string>) {
  const t0 = ms();
  const cp = spawnTracked(process.execPath, args, { env });
  const rpc = new StdioRpc(cp);
  try {
    const init = rpc.request(
      'initialize',
      { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'cold', version: '1' } },
      15_000,
    );
    okResult(await init);
    await rpc.notify('notifications/initialized');
    const list = await rpc.request('tools/list', {}, 15_000);
    const dt = ms() - t0;
    okResult(list);
    const mem = memOf(cp.pid);
    return { ms: dt, mem };
  } catch (e) {
    throw new Error(`cold start of ${args.join(' ')} failed: ${(e as Error).message}\n${cp.tail()}`);
  } finally {
    await stop(cp, 3000);
  }
}

async function coldNode(): Promise<number> {
  const t0 = ms();
  const cp = spawnTracked(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  if (!(await waitExit(cp, 10_000))) throw new Error('node -e 0 did not exit');
  return ms() - t0;
}

/** Every argument (nested objects and array items included) must carry a description. */
function undescribed(schema: any, path: string, out: string[]): void {
  if (!schema || typeof schema !== 'object') return;
  for (const [k, p] of Object.entries<any>(schema.properties ?? {})) {
    const here = path ? `${path}.${k}` : k;
    if (!p?.description) out.push(here);
    undescribed(p, here, out);
    if (p?.items) undescribed(p.items, `${here}[]`, out);
    for (const alt of [...(p?.anyOf ?? []), ...(p?.oneOf ?? [])]) undescribed(alt, here, out);
  }
}

// ---------------------------------------------------------------------------------------------
// main

interface Target {
  id: string;
  what: string;
  measured: string;
  limit: string;
  pass: boolean | null;
  note?: string;
}

async function main() {
  const started = ms();
  const results: Record<string, any> = {
    schema: 1,
    date: new Date().toISOString(),
    mode: opts.smoke ? 'smoke' : 'full',
    commit: git(['rev-parse', 'HEAD']),
    worktree_dirty: !!git(['status', '--porcelain', '--untracked-files=no']),
    machine: {
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memory_gb: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      load_avg_at_start: os.loadavg().map((l) => round(l, 2)),
    },
    params: {
      iterations: opts.iterations,
      warmup: opts.warmup,
      cold_spawns: opts.cold,
      window_seconds: opts.seconds,
      fsyncs: opts.fsyncs,
      sections: opts.only ? [...opts.only] : [...SECTIONS],
    },
  };
  const targets: Target[] = [];
  const report: string[] = [];
  const md: string[] = [];
  const section = (title: string, head: string[], rows: string[][]) => {
    report.push(`\n${title}\n${table(head, rows)}`);
    md.push(`**${title}**\n\n${mdTable(head, rows)}`);
  };
  const noHttp = httpAvailable();
  if (noHttp) say(`HTTP parts skipped: ${noHttp}`);

  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run bench (it builds first)`);
  const work = tempDir('run');
  say(`work dir ${work}`);

  const laps: Record<string, number> = {};
  let lapAt = ms();
  const lap = (name: string) => {
    laps[name] = round((ms() - lapAt) / 1000, 1);
    lapAt = ms();
  };
  // -- fsync on this disk (the data dir lives on the same filesystem as the temp dir)
  const fsync = measureFsync(work, opts.fsyncs);
  results.fsync_ms = { p50: round(fsync.p50, 4), p99: round(fsync.p99, 4), n: fsync.n, where: os.tmpdir() };
  say(`fsync p50 ${fmt(fsync.p50)} ms`);

  const sandbox = await startSandboxChild(work);
  const env: Env = { work, sandboxUrl: sandbox.url };
  say(`sandbox ${sandbox.url}`);
  const direct = directClients(sandbox.url);

  // -- latency: sequential calls, interleaved across paths
  if (want('latency') || want('context')) {
    const stdio = await startStdioServer(serverEnv(env, 'file'));
    const minimalJs = await bundleMinimal();
    const minimal = await startStdioServer({ PATH: process.env.PATH ?? '', HOME: work }, [minimalJs]);
    const httpSrv = noHttp ? undefined : await startHttpServerChild(serverEnv(env, 'file'));
    const minimalHttp = noHttp
      ? undefined
      : await startHttpServerChild({ PATH: process.env.PATH ?? '', HOME: work }, [minimalJs, '--http']);

    if (want('context')) {
      const list = await stdio.rpc.request('tools/list', {});
      const tools: any[] = okResult(list).tools;
      const raw = list.raw;
      const perTool = tools.map((t) => {
        const all = JSON.stringify(t);
        const missing: string[] = [];
        undescribed(t.inputSchema, '', missing);
        return {
          name: t.name,
          bytes: Buffer.byteLength(all),
          tokens: countTokens(all),
          input_schema_tokens: countTokens(JSON.stringify(t.inputSchema)),
          output_schema_tokens: t.outputSchema ? countTokens(JSON.stringify(t.outputSchema)) : 0,
          arguments: Object.keys(t.inputSchema?.properties ?? {}).length,
          undescribed: missing,
        };
      });
      const totalTokens = countTokens(raw);
      const avg = totalTokens / tools.length;
      // The arguments alone: what the issues require each tool to take, each typed and described.
      const inputAvg = perTool.reduce((a, t) => a + t.input_schema_tokens, 0) / tools.length;
      const missing = perTool.flatMap((t) => t.undescribed.map((a) => `${t.name}.${a}`));
      results.context = {
        tokenizer: 'o200k_base (gpt-tokenizer 3.x, gpt-tokenizer/encoding/o200k_base)',
        measured: 'the raw tools/list JSON-RPC answer line over stdio; per tool: JSON.stringify of its entry',
        tools: tools.length,
        total_bytes: Buffer.byteLength(raw),
        total_tokens: totalTokens,
        avg_tokens_per_tool: round(avg, 1),
        output_schema_tokens: perTool.reduce((a, t) => a + t.output_schema_tokens, 0),
        avg_input_schema_tokens_per_tool: round(inputAvg, 1),
        undescribed_arguments: missing,
        per_tool: perTool,
      };
      section(
        `Context cost: tools/list (o200k_base): ${Buffer.byteLength(raw)} bytes, ${totalTokens} tokens, ${fmt(avg, 1)} tokens/tool`,
        ['tool', 'bytes', 'tokens', 'input schema', 'output schema', 'args'],
        perTool.map((t) => [
          t.name,
          String(t.bytes),
          String(t.tokens),
          String(t.input_schema_tokens),
          String(t.output_schema_tokens),
          String(t.arguments),
        ]),
      );
      targets.push({
        id: 'tools_list_tokens',
        what: 'tools/list tokens per tool (avg, incl. output schemas), every argument described',
        measured: `${fmt(avg, 1)} tokens/tool (input schemas alone ${fmt(inputAvg, 1)}); ${missing.length ? `undescribed: ${missing.join(', ')}` : 'all arguments described'}`,
        limit: '<= 230 and none undescribed',
        pass: avg <= 230 && missing.length === 0,
      });
      // RSS of a server that has answered tools/list and a few calls (the cold-start run measures a fresh one).
    }

    if (want('latency')) {
      say(`latency: ${opts.iterations} sequential calls per path (+${opts.warmup} warm-up)`);
      const budget = (opts.smoke ? 20 : 90) * 1000;
      const memSrv = await startStdioServer(serverEnv(env, 'memory'));
      const readPaths: Record<string, () => Promise<unknown>> = {
        direct_ofetch: () => direct.readOfetch(0),
        direct_fetch: () => direct.readFetch(0),
        direct_node_http: () => direct.readNodeHttp(0),
        direct_server_client: () => direct.readServerClient(0),
        minimal_sdk_stdio_echo: () => call(minimal.rpc, 'echo', { text: 'hello' }),
        mcp_stdio: () => call(stdio.rpc, 'get_points_balance', readArgs(0)),
      };
      if (minimalHttp)
        readPaths.minimal_sdk_http_echo = () => call(minimalHttp.rpc, 'echo', { text: 'hello' });
      if (httpSrv) readPaths.mcp_http = () => call(httpSrv.rpc, 'get_points_balance', readArgs(0));
      const read = await interleaved(readPaths, opts.iterations, opts.warmup, budget);
      const redeemPaths: Record<string, () => Promise<unknown>> = {
        direct_ofetch: () => direct.redeemOfetch(1, 'd'),
        direct_server_client: () => direct.redeemServerClient(1, 'c'),
        mcp_stdio: () => call(stdio.rpc, 'redeem_points', redeemArgs(1, 's')),
        mcp_stdio_memory_ledger: () => call(memSrv.rpc, 'redeem_points', redeemArgs(1, 'm')),
      };
      if (httpSrv) redeemPaths.mcp_http = () => call(httpSrv.rpc, 'redeem_points', redeemArgs(1, 'h'));
      const redeem = await interleaved(redeemPaths, opts.iterations, opts.warmup, budget);
      await stop(memSrv.cp);
      // The same read paths with one call per path in turn: every process has sat idle meanwhile,
      // as between an agent's calls. Reported, not judged: the targets are about the server's work.
      const { direct_fetch: _f, direct_node_http: _h, ...sporadicPaths } = readPaths;
      const sporadic = await interleaved(
        sporadicPaths,
        Math.max(50, Math.round(opts.iterations / 4)),
        0,
        budget / 3,
        1,
      );
      const vs = (v: Dist, base: Dist) => ({
        p50_ratio: round(v.p50 / base.p50, 2),
        p50_added_ms: round(v.p50 - base.p50),
        p99_ratio: round(v.p99 / base.p99, 2),
        p99_added_ms: round(v.p99 - base.p99),
      });
      const withRatio = (d: Record<string, Dist>) =>
        Object.fromEntries(
          Object.entries(d).map(([k, v]) => [
            k,
            {
              n: v.n,
              p50_ms: round(v.p50),
              p99_ms: round(v.p99),
              mean_ms: round(v.mean),
              ...(k.startsWith('mcp_')
                ? {
                    vs_direct_ofetch: vs(v, d.direct_ofetch),
                    vs_direct_server_client: vs(v, d.direct_server_client),
                  }
                : {}),
            },
          ]),
        );
      results.latency = {
        baselines: {
          direct_ofetch:
            'the same request straight to the same sandbox with ofetch.create({retry: 0, ignoreResponseError: true}), keep-alive: the baseline the issue names',
          direct_server_client:
            "the same request sent in-process with the server's own HTTP client (src/capillary/client.ts CapillaryClient.send: ofetch, keep-alive, the server's timeout and abort handling): like for like",
        },
        method: `paths take turns in blocks of ${BLOCK} back-to-back calls after ${REWARM} uncounted ones`,
        get_points_balance: withRatio(read),
        get_points_balance_sporadic: {
          method: 'one call per path in turn, so each process has sat idle since its last call',
          ...withRatio(sporadic),
        },
        redeem_points: {
          ...withRatio(redeem),
          ledger: 'mcp_stdio and mcp_http: file (durable, fsync); mcp_stdio_memory_ledger: memory',
        },
      };
      const label: Record<string, string> = {
        direct_ofetch: 'direct, ofetch keep-alive (issue baseline)',
        direct_fetch: 'direct, node fetch',
        direct_node_http: 'direct, node:http',
        direct_server_client: "direct, server's own client (like for like)",
        minimal_sdk_stdio_echo: 'minimal SDK server echo tool, stdio (no upstream)',
        minimal_sdk_http_echo: 'minimal SDK server echo tool, Streamable HTTP (no upstream)',
        mcp_stdio: 'MCP server, stdio',
        mcp_stdio_memory_ledger: 'MCP server, stdio, memory ledger',
        mcp_http: 'MCP server, Streamable HTTP',
      };
      const rows: string[][] = [];
      for (const [what, d] of [
        ['get_points_balance', read],
        ['redeem_points', redeem],
        ['get_points_balance, sporadic', sporadic],
      ] as const) {
        for (const [k, v] of Object.entries(d)) {
          const mcp = k.startsWith('mcp_');
          const cmp = (b: Dist) => (mcp ? `${fmt(v.p50 / b.p50, 2)}x  +${fmt(v.p50 - b.p50)}` : '');
          rows.push([
            `${what}: ${label[k]}`,
            fmt(v.p50),
            fmt(v.p99),
            cmp(d.direct_ofetch),
            cmp(d.direct_server_client),
          ]);
        }
      }
      if (noHttp) rows.push(['(Streamable HTTP rows skipped)', '', '', '', noHttp]);
      section(
        `Tool-call latency, sequential, ms (n=${read.direct_ofetch.n} each; sporadic rows n=${sporadic.direct_ofetch.n})`,
        ['path', 'p50', 'p99', 'p50 vs ofetch', 'p50 vs own client'],
        rows,
      );

      const bases = [
        ['direct_ofetch', 'direct ofetch (issue baseline)'],
        ['direct_server_client', "direct call with the server's own client (like for like)"],
      ] as const;
      for (const k of ['mcp_stdio', 'mcp_http']) {
        const v = read[k];
        if (!v) continue;
        for (const [b, what] of bases) {
          const ratio = v.p50 / read[b].p50;
          const added = v.p50 - read[b].p50;
          targets.push({
            id: `read_overhead_${k.slice(4)}_vs_${b.slice(7)}`,
            what: `read-only call p50 over ${k === 'mcp_stdio' ? 'stdio' : 'HTTP'} vs ${what}`,
            measured: `${fmt(ratio, 2)}x, +${fmt(added)} ms`,
            limit: '<= 1.5x or <= +0.3 ms',
            pass: ratio <= 1.5 || added <= 0.3,
          });
        }
      }
      for (const k of ['mcp_stdio', 'mcp_http']) {
        const v = redeem[k];
        if (!v) continue;
        for (const [b, what] of bases) {
          const added = v.p50 - redeem[b].p50;
          const limit = fsync.p50 + 0.5;
          targets.push({
            id: `redeem_overhead_${k.slice(4)}_vs_${b.slice(7)}`,
            what: `redeem_points p50, durable ledger, over ${k === 'mcp_stdio' ? 'stdio' : 'HTTP'}, added over ${what}`,
            measured: `+${fmt(added)} ms`,
            limit: `<= one fsync (${fmt(fsync.p50)}) + 0.5 = ${fmt(limit)} ms`,
            pass: added <= limit,
          });
        }
      }
    }
    await stop(stdio.cp);
    await stop(minimal.cp);
    for (const h of [httpSrv, minimalHttp]) {
      if (!h) continue;
      h.rpc.close();
      await stop(h.cp);
    }
  }

  lap('latency+context');
  // -- cold start
  if (want('cold')) {
    say(`cold start: ${opts.cold} spawns per variant (+1 warm-up each)`);
    const minimalJs = await bundleMinimal();
    const plainEnv = { PATH: process.env.PATH ?? '', HOME: work };
    const t = {
      node: [] as number[],
      minimal: [] as number[],
      external: [] as number[],
      embedded: [] as number[],
    };
    const rss: number[] = [];
    const hwm: number[] = [];
    const deadline = ms() + (opts.smoke ? 30 : 120) * 1000;
    for (let i = 0; i < opts.cold + 1 && ms() < deadline; i++) {
      const warm = i === 0;
      const n = await coldNode();
      const m = await coldToolsList([minimalJs], plainEnv);
      const ext = await coldToolsList([CLI], serverEnv(env, 'file'));
      const emb = await coldToolsList([CLI], { ...plainEnv, CAPILLARY_DATA_DIR: freshDir(env, 'data') });
      if (warm) continue;
      t.node.push(n);
      t.minimal.push(m.ms);
      t.external.push(ext.ms);
      t.embedded.push(emb.ms);
      if (ext.mem) {
        rss.push(ext.mem.rssMb);
        hwm.push(ext.mem.hwmMb);
      }
    }
    const d = {
      node: dist(t.node),
      minimal: dist(t.minimal),
      external: dist(t.external),
      embedded: dist(t.embedded),
    };
    const rssD = dist(rss);
    results.cold_start = {
      measured:
        'spawn to the first tools/list answer over stdio (initialize, initialized, tools/list); node -e 0: spawn to exit',
      node_e0: { p50_ms: round(d.node.p50, 1), p90_ms: round(d.node.p90, 1), n: d.node.n },
      minimal_sdk_bundled: {
        p50_ms: round(d.minimal.p50, 1),
        p90_ms: round(d.minimal.p90, 1),
        n: d.minimal.n,
      },
      server_external_sandbox: {
        p50_ms: round(d.external.p50, 1),
        p90_ms: round(d.external.p90, 1),
        n: d.external.n,
        ratio_vs_minimal: round(d.external.p50 / d.minimal.p50, 2),
        ratio_vs_node: round(d.external.p50 / d.node.p50, 2),
      },
      server_embedded_sandbox: {
        p50_ms: round(d.embedded.p50, 1),
        p90_ms: round(d.embedded.p90, 1),
        n: d.embedded.n,
        ratio_vs_minimal: round(d.embedded.p50 / d.minimal.p50, 2),
        ratio_vs_node: round(d.embedded.p50 / d.node.p50, 2),
      },
      rss_after_tools_list_mb: {
        p50: round(rssD.p50, 1),
        max: round(Math.max(...rss), 1),
        hwm_p50: round(dist(hwm).p50, 1),
      },
    };
    const row = (what: string, v: Dist) => [
      what,
      fmt(v.p50, 1),
      fmt(v.p90, 1),
      `${fmt(v.p50 / d.minimal.p50, 2)}x`,
      `${fmt(v.p50 / d.node.p50, 2)}x`,
    ];
    section(
      `Cold start, ms (n=${d.node.n} each)`,
      ['variant', 'p50', 'p90', 'vs minimal', 'vs node -e 0'],
      [
        ['node -e 0 (spawn to exit)', fmt(d.node.p50, 1), fmt(d.node.p90, 1), '', '1.00x'],
        row('minimal SDK server, bundled (one tool)', d.minimal),
        row('server, sandbox already running (CAPILLARY_BASE_URL)', d.external),
        row('server, embedded sandbox (default)', d.embedded),
        ['RSS after tools/list, stdio (MB)', fmt(rssD.p50, 1), '', '', ''],
      ],
    );
    for (const [k, what] of [
      ['external', 'sandbox already running'],
      ['embedded', 'embedded sandbox, the default'],
    ] as const) {
      const ratio = d[k].p50 / d.minimal.p50;
      targets.push({
        id: `cold_start_${k}`,
        what: `cold start to tools/list (${what}) vs bundled minimal SDK server`,
        measured: `${fmt(ratio, 2)}x (${fmt(d[k].p50, 1)} vs ${fmt(d.minimal.p50, 1)} ms)`,
        limit: '<= 1.2x',
        pass: ratio <= 1.2,
      });
    }
    targets.push({
      id: 'rss_stdio',
      what: 'RSS after tools/list on stdio',
      measured: `${fmt(rssD.p50, 1)} MB`,
      limit: '< 80 MB',
      pass: rssD.p50 < 80,
    });
  }

  lap('cold');
  // -- cold start by the size of the file ledger (lines of the day)
  if (want('coldledger')) {
    const { coldLedger } = await import('./lib/cold-ledger.js');
    const sizes = opts.smoke ? [0, 1_000, 10_000] : [0, 100_000, 1_000_000];
    const {
      results: r,
      rows,
      ratio,
    } = await coldLedger({
      sizes,
      spawns: (lines) => (opts.smoke ? 2 : lines >= 1_000_000 ? 3 : 10),
      say,
      env: (dir) => serverEnv(env, 'file', { CAPILLARY_DATA_DIR: dir }),
      cli: CLI,
      work,
      redeemArgs: (tag) => redeemArgs(0, tag),
    });
    results.cold_ledger = {
      measured:
        'stdio server, file ledger holding n lines of the day (pending + success per redemption): spawn to the tools/list answer, spawn to the first redemption answer (the ledger loaded), peak RSS by then',
      ...r,
    };
    section(
      'Cold start by file ledger size (lines of the day), ms and MB',
      ['lines', 'start-up', 'tools/list p50', 'vs empty', 'RSS then', 'first redeem p50', 'peak RSS', 'n'],
      rows,
    );
    if (ratio)
      targets.push({
        id: 'cold_start_ledger_1e6',
        what: `cold start to tools/list with ${ratio.lines} ledger lines of the day (from the snapshot) vs an empty ledger`,
        measured: `${fmt(ratio.ratio, 2)}x`,
        limit: '<= 1.5x',
        pass: ratio.ratio <= 1.5,
      });
  }
  lap('coldledger');
  // -- throughput over HTTP
  if (want('throughput')) {
    if (noHttp) {
      results.throughput = { skipped: noHttp };
      targets.push({
        id: 'http_throughput',
        what: 'HTTP calls/s at concurrency 64, no errors',
        measured: 'not measured',
        limit: '>= 1500/s',
        pass: null,
        note: noHttp,
      });
    } else {
      const srv = await startHttpServerChild(serverEnv(env, 'file'));
      let peakRss = 0;
      const sampler = setInterval(() => {
        const m = memOf(srv.cp.pid);
        if (m && m.rssMb > peakRss) peakRss = m.rssMb;
      }, 100);
      const afterStart = memOf(srv.cp.pid);
      // What the sandbox alone serves to this client on these cores: the ceiling for any path through it.
      await window(8, warmS, (w) => direct.readNodeHttp(w % 8));
      say(`throughput: sandbox alone, node:http c=64 for ${opts.seconds}s`);
      const upstream = await window(64, opts.seconds, (w) => direct.readNodeHttp(w % 8));
      const out: Record<string, Record<string, Window>> = { get_points_balance: {}, redeem_points: {} };
      const fns = {
        get_points_balance: (w: number) => call(srv.rpc, 'get_points_balance', readArgs(w % 8)),
        redeem_points: (w: number) => call(srv.rpc, 'redeem_points', redeemArgs(8 + w, 't')),
      };
      try {
        for (const tool of ['get_points_balance', 'redeem_points'] as const) {
          await window(8, warmS, fns[tool]); // warm-up
          for (const c of [1, 8, 64]) {
            say(`throughput ${tool} c=${c} for ${opts.seconds}s`);
            out[tool][`c${c}`] = await window(c, opts.seconds, fns[tool]);
          }
        }
      } finally {
        clearInterval(sampler);
      }
      const end = memOf(srv.cp.pid);
      srv.rpc.close();
      await stop(srv.cp);
      results.throughput = {
        transport:
          'Streamable HTTP at /mcp (as the server serves it), node:http keep-alive client; server a child process with the file ledger',
        ...out,
        sandbox_alone_c64: {
          ...upstream,
          note: 'get_points_balance request straight to the sandbox with node:http: the ceiling',
        },
        rss_mb: {
          after_start: round(afterStart?.rssMb ?? Number.NaN, 1),
          peak_sampled: round(peakRss, 1),
          vm_hwm: round(end?.hwmMb ?? Number.NaN, 1),
        },
      };
      const rows: string[][] = [];
      for (const tool of ['get_points_balance', 'redeem_points'] as const)
        for (const c of [1, 8, 64]) {
          const w = out[tool][`c${c}`];
          rows.push([
            `${tool} c=${c}`,
            fmt(w.calls_per_s, 0),
            String(w.errors),
            fmt(w.p50_ms),
            fmt(w.p99_ms),
          ]);
        }
      rows.push([
        'sandbox alone (direct node:http) c=64',
        fmt(upstream.calls_per_s, 0),
        String(upstream.errors),
        fmt(upstream.p50_ms),
        fmt(upstream.p99_ms),
      ]);
      rows.push([`server peak RSS (VmHWM), MB`, fmt(end?.hwmMb, 1), '', '', '']);
      section(
        `Throughput over Streamable HTTP (${opts.seconds}s windows)`,
        ['tool, concurrency', 'calls/s', 'errors', 'p50 ms', 'p99 ms'],
        rows,
      );
      for (const tool of ['get_points_balance', 'redeem_points'] as const) {
        const w = out[tool].c64;
        targets.push({
          id: `http_throughput_${tool}`,
          what: `HTTP ${tool} calls/s at concurrency 64, no errors`,
          measured: `${fmt(w.calls_per_s, 0)}/s, ${w.errors} errors`,
          limit: '>= 1500/s, 0 errors',
          pass: w.calls_per_s >= 1500 && w.errors === 0,
        });
      }
    }
  }

  lap('throughput');
  // -- ledger cost: redemptions with the durable ledger vs in memory
  if (want('ledger')) {
    const out: Record<string, Record<string, Window>> = {};
    /** file/memory ratio of each pair of slices: how much the machine moved during the run. */
    const spread: Record<string, number[]> = {};
    const servers = {
      file: await startStdioServer(serverEnv(env, 'file')),
      memory: await startStdioServer(serverEnv(env, 'memory')),
    };
    const fn = (ledger: 'file' | 'memory') => (w: number) =>
      call(servers[ledger].rpc, 'redeem_points', redeemArgs(24 + w, `l${ledger[0]}`));
    for (const c of [1, 16]) {
      for (const ledger of ['file', 'memory'] as const) await window(c, warmS, fn(ledger));
      // Short slices in A-B-B-A order, so load from anything else on the machine hits both alike.
      const pairs = Math.max(1, Math.round(opts.seconds / 0.5 / 2));
      const slice = opts.seconds / (2 * pairs);
      say(`ledger c=${c}: file vs memory, ${2 * pairs} slices of ${fmt(slice, 2)}s each`);
      const parts: Record<'file' | 'memory', Window[]> = { file: [], memory: [] };
      for (let i = 0; i < pairs; i++)
        for (const ledger of i % 2 ? (['memory', 'file'] as const) : (['file', 'memory'] as const))
          parts[ledger].push(await window(c, slice, fn(ledger)));
      out[`c${c}`] = { file: merge(parts.file), memory: merge(parts.memory) };
      spread[`c${c}`] = parts.file
        .map((f, i) => round(f.calls_per_s / parts.memory[i].calls_per_s, 2))
        .sort((a, b) => a - b);
    }
    await stop(servers.file.cp);
    await stop(servers.memory.cp);
    results.ledger = {
      transport: 'stdio, requests pipelined (c in flight), one customer per worker; audit log on in both',
      ...Object.fromEntries(
        Object.entries(out).map(([k, v]) => [
          k,
          {
            ...v,
            ratio: round(v.file.calls_per_s / v.memory.calls_per_s, 3),
            ratio_by_slice_pair: spread[k],
          },
        ]),
      ),
    };
    section(
      `Ledger cost: redeem_points calls/s, durable ledger vs memory (${opts.seconds}s per mode, stdio)`,
      ['concurrency', 'file (fsync)', 'memory', 'file / memory', 'slice pairs min-max', 'errors'],
      Object.entries(out).map(([k, v]) => [
        k.slice(1),
        fmt(v.file.calls_per_s, 0),
        fmt(v.memory.calls_per_s, 0),
        `${fmt((100 * v.file.calls_per_s) / v.memory.calls_per_s, 1)}%`,
        `${fmt(100 * spread[k][0], 0)}-${fmt(100 * spread[k][spread[k].length - 1], 0)}%`,
        String(v.file.errors + v.memory.errors),
      ]),
    );
    for (const [k, v] of Object.entries(out))
      targets.push({
        id: `ledger_${k}`,
        what: `redemptions/s with the durable ledger vs memory at concurrency ${k.slice(1)}`,
        measured: `${fmt((100 * v.file.calls_per_s) / v.memory.calls_per_s, 1)}% (${fmt(v.file.calls_per_s, 0)} vs ${fmt(v.memory.calls_per_s, 0)}/s)`,
        limit: '>= 70%',
        pass: v.file.calls_per_s >= 0.7 * v.memory.calls_per_s && v.file.errors === 0,
      });
  }

  lap('ledger');
  // -- the stores side by side: memory, file, PostgreSQL; one and three replicas
  if (want('stores')) {
    const { ledgerStores } = await import('./lib/ledger-stores.js');
    const { results: r, rows } = await ledgerStores({
      seconds: opts.seconds,
      warmS,
      concurrencies: [1, 16, 64],
      say,
      window,
      server: (ledger, extra) => startStdioServer(serverEnv(env, ledger, extra)),
      stop: (cp) => stop(cp),
      redeem: (rpc, w) => call(rpc, 'redeem_points', redeemArgs(w % CUSTOMERS.length, 's')),
      dataDir: () => freshDir(env, 'data'),
      sandboxPid: sandbox.cp.pid,
    });
    results.stores = r;
    section(
      `Ledger stores: redeem_points calls/s by store and replicas (${opts.seconds}s per row, stdio)`,
      ['store', 'concurrency', 'calls/s', 'p50 ms', 'errors', 'CPU % servers / db / sandbox / client'],
      rows,
    );
    const pg = r.postgres?.c64 as Window | undefined;
    const file = r.file?.c64 as Window | undefined;
    if (pg && file)
      targets.push({
        id: 'stores_postgres_c64',
        what: 'PostgreSQL ledger redemptions/s at concurrency 64, one replica, vs the file ledger',
        measured: `${fmt((100 * pg.calls_per_s) / file.calls_per_s, 1)}% (${fmt(pg.calls_per_s, 0)} vs ${fmt(file.calls_per_s, 0)}/s)`,
        limit: '>= 50%',
        pass: pg.calls_per_s >= 0.5 * file.calls_per_s && pg.errors === 0,
      });
  }
  lap('stores');
  // -- caps: redeem latency with a daily cap, as one customer's history in the ledger grows
  if (want('caps')) {
    const sizes = opts.smoke ? [0, 5_000, 50_000] : [0, 50_000, 500_000];
    const c = CUSTOMERS.length - 1;
    const rows: Record<string, Dist> = {};
    for (const n of sizes) {
      // In process, so that the history can be put straight into the ledger: n redemptions of
      // this customer in the last hour, all inside the 24 h the cap looks back over.
      const app = createApp(
        loadConfig(
          serverEnv(env, 'memory', {
            CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '1000000000',
            CAPILLARY_LOG_LEVEL: 'error',
          }),
        ),
        ALL_TOOLS,
      );
      const now = Date.now();
      for (let i = 0; i < n; i++)
        await app.store.put({
          key: `hist-${i}`,
          fingerprint: `hist-fp-${i}`,
          meaning: `hist-m-${i}`,
          tool: 'redeem_points',
          customer: `id:${CUSTOMERS[c].id}`,
          points: 0.001,
          status: 'succeeded',
          at: now - 3_600_000 + (i * 3_000_000) / Math.max(1, n),
          updated: now,
          agent_key: false,
        });
      const once = async () => {
        const t0 = ms();
        const r = await pipelineCall(app, 'redeem_points', redeemArgs(c, `cap${n}`));
        const took = ms() - t0;
        const sc = r.structuredContent as any;
        if (r.isError || !sc?.points_redeemed)
          throw new Error(`caps: redeem failed: ${JSON.stringify(sc).slice(0, 300)}`);
        return took;
      };
      for (let i = 0; i < opts.warmup; i++) await once();
      const took: number[] = [];
      for (let i = 0; i < opts.iterations; i++) took.push(await once());
      rows[String(n)] = dist(took);
      say(`caps: ${n} entries, p50 ${fmt(rows[String(n)].p50)} ms`);
      await app.close();
    }
    results.caps = {
      what: 'redeem_points in process (the pipeline, memory ledger) against the sandbox, daily cap set, one customer with n earlier redemptions in the window',
      ...Object.fromEntries(
        Object.entries(rows).map(([k, d]) => [k, { p50: round(d.p50), p90: round(d.p90), n: d.n }]),
      ),
    };
    section(
      `Caps: redeem_points latency (ms) with a daily cap, by one customer's entries in the window (${opts.iterations} calls each)`,
      ['entries', 'p50', 'p90', 'p99'],
      Object.entries(rows).map(([k, d]) => [k, fmt(d.p50), fmt(d.p90), fmt(d.p99)]),
    );
    const base = rows[String(sizes[0])];
    const most = rows[String(sizes[sizes.length - 1])];
    targets.push({
      id: 'caps_flat',
      what: `redeem_points p50 with a daily cap and ${sizes[sizes.length - 1]} entries for the customer vs none`,
      measured: `${fmt(most.p50)} vs ${fmt(base.p50)} ms`,
      limit: '<= 1.5x + 0.5 ms (flat within noise)',
      pass: most.p50 <= 1.5 * base.p50 + 0.5,
    });
  }

  direct.close();
  await stop(sandbox.cp);

  lap('caps');
  results.section_seconds = laps;
  results.machine.load_avg_at_end = os.loadavg().map((l) => round(l, 2));
  results.targets = targets;
  results.duration_s = round((ms() - started) / 1000, 1);
  section(
    'Targets',
    ['target', 'measured', 'limit', 'result'],
    targets.map((t) => [t.what, t.measured, t.limit, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS']),
  );
  const header = `capillary-loyalty-mcp bench (${results.mode}), ${results.date}, ${results.machine.cpu} x${results.machine.cores}, node ${process.version}, commit ${String(results.commit).slice(0, 12)}${results.worktree_dirty ? ' (dirty)' : ''}`;
  process.stdout.write(
    `${header}\nfsync (write+fdatasync, small line) p50 ${fmt(fsync.p50)} ms, p99 ${fmt(fsync.p99)} ms\n${report.join('\n')}\n`,
  );
  if (opts.markdown) process.stdout.write(`\n${md.join('\n\n')}\n`);
  const outPath = resolve(ROOT, opts.out);
  writeFileSync(outPath, `${JSON.stringify(results, null, 2)}\n`);
  say(`wrote ${outPath} in ${results.duration_s}s`);
  const missed = targets.filter((t) => t.pass === false).length;
  return opts.strict && !opts.smoke && missed ? 1 : 0;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// lifecycle: a watchdog, signals and errors all end in cleanup

const watchdog = setTimeout(() => {
  say(`watchdog: the run exceeded ${opts.limitS}s; stopping`);
  cleanupSync();
  process.exit(1);
}, opts.limitS * 1000);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    say(`${sig}: cleaning up`);
    cleanupSync();
    process.exit(130);
  });
process.on('exit', cleanupSync);

main()
  .then(async (code) => {
    await cleanup();
    if (liveChildren()) say('warning: child processes were still running at the end');
    process.exit(code);
  })
  .catch(async (e) => {
    process.stderr.write(`bench: failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await cleanup();
    process.exit(1);
  });
