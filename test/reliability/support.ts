import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLI, tempDir } from '../helpers/mcp.js';

/** Where every suite writes its figures (docs/reliability.md quotes their totals, from summary.mjs). */
export const FIGURES_DIR = resolve(import.meta.dirname, '../../.tmp/reliability');

/** Fuzz runs per property; CI default 1000, nightly e.g. FUZZ_RUNS=20000. */
export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS) || 1000);
/** Multiplier for the crash and load loops (nightly: RELIABILITY_SCALE=10). */
export const SCALE = Math.max(1, Number(process.env.RELIABILITY_SCALE) || 1);
/** Per-test time limits that grow with the settings above (vitest's default here is 30 s). */
export const FUZZ_TIMEOUT_MS = 60_000 + FUZZ_RUNS * 50;
export const LOOP_TIMEOUT_MS = 120_000 * SCALE;

export interface Figures {
  suite: string;
  inputs?: number;
  invalidInputs?: number;
  validInputs?: number;
  faults?: number;
  crashes?: number;
  toolCalls?: number;
  doubleSpends: number;
  leaks: number;
  scanned?: number;
  [k: string]: unknown;
}

/** Writes a suite's counts to .tmp/reliability/<suite>.json and prints them on stderr. */
export function writeFigures(f: Figures): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  const out = { ...f, at: new Date().toISOString(), fuzzRuns: FUZZ_RUNS, scale: SCALE };
  writeFileSync(join(FIGURES_DIR, `${f.suite}.json`), `${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`[reliability] ${JSON.stringify(out)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Canary secrets and the sweep.

export const CANARY = {
  user: 'till.user',
  password: 'canary-pass-5f3e',
  uiToken: 'canary-ui-jwt-91ab',
  oauthKey: 'canary-client-key',
  oauthSecret: 'canary-oauth-secret-c4d2e8',
  /** The fake's issued tokens start with this. */
  tokenPrefix: 'canary-issued-tok',
};

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/**
 * Every substring a base64 encoding of `s` must contain, whatever its alignment in the encoded
 * data: for each of the three byte offsets, the characters that depend only on bytes of `s`.
 */
export function base64Needles(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const from = Math.ceil((8 * k) / 6);
    const to = Math.floor((8 * (k + bytes.length)) / 6);
    const needle = enc.slice(from, to);
    if (needle.length >= 8) out.push(needle, needle.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...new Set(out)];
}

/** A secret's plain, base64 and md5 forms (and the base64 of its md5, which is what Basic auth carries). */
export function secretForms(secret: string): Array<{ form: string; needle: string }> {
  const h = md5(secret);
  return [
    { form: 'plain', needle: secret },
    ...base64Needles(secret).map((needle) => ({ form: 'base64', needle })),
    { form: 'md5', needle: h },
    { form: 'md5', needle: h.toUpperCase() },
    ...base64Needles(h).map((needle) => ({ form: 'base64(md5)', needle })),
  ];
}

/**
 * Checks everything that leaves the server (tool outputs, stderr, ledger and audit files) for
 * every form of every canary secret. By default each text is scanned when added and dropped
 * (big fuzz runs stay small); `retain: true` keeps texts until check(), for suites that learn
 * secrets late (OAuth tokens issued during the run).
 */
export class Sweep {
  private readonly texts: Array<{ where: string; text: string }> = [];
  private readonly secrets = new Set<string>([CANARY.password, CANARY.uiToken, CANARY.oauthSecret]);
  private readonly prefixes = [CANARY.tokenPrefix];
  private needles?: Array<{ form: string; needle: string; secret: string }>;
  private readonly found = new Set<string>();
  scannedBytes = 0;
  scannedItems = 0;

  constructor(private readonly opts: { retain?: boolean } = {}) {}

  addSecret(...s: string[]): void {
    for (const x of s) this.secrets.add(x);
    this.needles = undefined;
  }

  add(where: string, value: unknown): void {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text === undefined) return;
    this.scannedBytes += text.length;
    this.scannedItems++;
    if (this.opts.retain) this.texts.push({ where, text });
    else this.scan(where, text);
  }

  /** Adds every regular file under dir (the data dir: ledger segments, audit.jsonl, ...). */
  addDir(where: string, dir: string): void {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) this.addDir(`${where}/${name}`, p);
      else if (st.isFile()) this.add(`${where}/${name}`, readFileSync(p, 'utf8'));
    }
  }

  private scan(where: string, text: string): void {
    this.needles ??= [...this.secrets].flatMap((s) => secretForms(s).map((f) => ({ ...f, secret: s })));
    for (const n of this.needles)
      if (text.includes(n.needle))
        this.found.add(`${where}: ${n.form} form of secret ${n.secret.slice(0, 6)}…`);
    for (const p of this.prefixes)
      if (text.includes(p)) this.found.add(`${where}: issued token (prefix ${p})`);
  }

  /** Returns one line per leak found (empty when clean). */
  check(): string[] {
    for (const { where, text } of this.texts.splice(0)) this.scan(where, text);
    return [...this.found];
  }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/** Resident set size of a process, in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** Open file descriptors of a process (Linux /proc). */
export const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects if the promise does not settle in time: nothing in these suites may hang. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang)`)), ms);
    }),
  ]);
}

/**
 * Starts `node dist/cli.js sandbox --port 0 --state FILE` and resolves once it prints its URL.
 * The handle can be SIGKILLed and restarted on the same state file.
 */
export async function startSandboxProcess(
  stateFile: string,
  port: string | number = 0,
): Promise<{ url: string; pid: number; stderr: () => string; kill: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'sandbox', '--port', String(port), '--state', stateFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: tempDir('home-') },
  });
  let err = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sandbox did not start: ${err}`)), 10_000);
    child.stderr!.on('data', (d) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`sandbox exited (${code}) before listening: ${err}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    stderr: () => err,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
