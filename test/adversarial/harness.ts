import { spawnSync } from 'node:child_process';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CLI, tempDir } from '../fixtures/cli.js';
import { type Connected, connectStdio } from '../fixtures/clients.js';
import { createDatabase, pgMissing, sharedCluster } from '../fixtures/postgres.js';
import {
  type Attempt,
  type Commit,
  FAULT_KINDS,
  FakeCapillary,
  type FakeCustomer,
  type FaultKind,
  type Route,
} from './fake-capillary.js';

/**
 * The "never spend twice" harness: the built server (dist/cli.js) over stdio with the SDK's real
 * Client, against the adversarial fake. A Referee runs every money call, attributes the fake's
 * attempts to it, and checks the rules below after each call and at the end; every check reads
 * the fake's own books, never the server's account.
 */

export const CREDS = {
  username: 'adv.till',
  password: 'adv-pass-71c9',
  orgId: '4242',
  uiToken: 'adv-ui-token-0b3e',
};

/** The client's per-request timeout given to the server; hangs cost this much. */
export const TIMEOUT_MS = Number(process.env.ADV_TIMEOUT_MS) || 1500;

/** Fault kinds under test; ADV_FAULTS=reset,hang narrows them (while debugging). */
export const faultsUnderTest = (): FaultKind[] => {
  const only = process.env.ADV_FAULTS?.split(',').map((s) => s.trim());
  return FAULT_KINDS.filter((f) => !only || only.includes(f));
};

export type MoneyTool = 'redeem_points' | 'reverse_redemption' | 'request_points_redemption';
export const MONEY_TOOLS: MoneyTool[] = ['redeem_points', 'reverse_redemption', 'request_points_redemption'];

export const ROUTE: Record<MoneyTool, Route> = {
  redeem_points: 'redeem',
  reverse_redemption: 'reverse',
  request_points_redemption: 'workflow',
};

/** Whether Capillary deduplicates a re-send of this call by its key. */
export const KEYED: Record<MoneyTool, boolean> = {
  redeem_points: true,
  reverse_redemption: false,
  request_points_redemption: false,
};

export async function startFake(extra: ConstructorParameters<typeof FakeCapillary>[0] = {}) {
  return new FakeCapillary({ ...CREDS, ...extra }).start();
}

/** A fresh fake and one server on a fresh data directory (extra: more server settings). */
export async function fakeAndServer(
  extra: Record<string, string> = {},
): Promise<{ fake: FakeCapillary; m: Mcp }> {
  const fake = await startFake();
  return { fake, m: await startServer(serverEnv(fake, tempDir('adv-data-'), extra)) };
}

/** Closes what a suite started, servers first. */
export async function closeAll(...xs: Array<{ close(): Promise<void> } | undefined>): Promise<void> {
  for (const x of xs) await x?.close().catch(() => {});
}

/** The ledgers the cross-process suites run on: the file ledger, and PostgreSQL where installed (CI). */
export const LEDGERS: Array<'file' | 'postgres'> = pgMissing ? ['file'] : ['file', 'postgres'];

/** A fresh ledger's settings: a new database for PostgreSQL (the data dir keeps the audit log). */
export async function ledgerEnv(ledger: 'file' | 'postgres'): Promise<Record<string, string>> {
  if (ledger === 'file') return {};
  return { CAPILLARY_LEDGER_URL: await createDatabase(await sharedCluster(), 'adv') };
}

export const serverEnv = (fake: FakeCapillary, dataDir: string, extra: Record<string, string> = {}) => ({
  CAPILLARY_BASE_URL: fake.url,
  CAPILLARY_USERNAME: CREDS.username,
  CAPILLARY_PASSWORD: CREDS.password,
  CAPILLARY_ORG_ID: CREDS.orgId,
  CAPILLARY_UI_AUTH_TOKEN: CREDS.uiToken,
  CAPILLARY_DATA_DIR: dataDir,
  CAPILLARY_TIMEOUT_MS: String(TIMEOUT_MS),
  CAPILLARY_LOG_LEVEL: 'warn',
  ...extra,
});

export interface Mcp extends Connected {
  /** SIGKILL, then wait until the process is gone. */
  kill(): Promise<void>;
  /** Checks a result's structuredContent against the tool's listed outputSchema; the problem, if any. */
  checkOutput(tool: string, sc: unknown): string | undefined;
}

const ajv = new AjvJsonSchemaValidator();

/** Starts the server and lists its tools (so the client checks every result against its outputSchema). */
export async function startServer(
  env: Record<string, string>,
  opts: Parameters<typeof connectStdio>[1] = {},
): Promise<Mcp> {
  const c = await connectStdio(env, opts);
  // Listing the tools also makes the client check every result against its outputSchema.
  const { tools } = await c.client.listTools();
  const validators = new Map(
    tools.filter((t) => t.outputSchema).map((t) => [t.name, ajv.getValidator(t.outputSchema as any)]),
  );
  const checkOutput = (tool: string, sc: unknown) => {
    const v = validators.get(tool)?.(sc);
    return v && !v.valid ? `result does not match the listed outputSchema: ${v.errorMessage}` : undefined;
  };
  const kill = async () => {
    if (!c.pid) return;
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
    for (let i = 0; i < 400; i++) {
      try {
        process.kill(c.pid, 0);
        await sleep(5);
      } catch {
        break;
      }
    }
    await c.close().catch(() => {});
  };
  return { ...c, kill, checkOutput };
}

/**
 * Starts a server that may legitimately refuse to start (a second writer on one data directory
 * may refuse, if it says how to share the ledger safely).
 */
export async function startOrRefuse(
  env: Record<string, string>,
): Promise<{ mcp: Mcp; refused?: undefined } | { mcp?: undefined; refused: string }> {
  try {
    return { mcp: await startServer(env) };
  } catch (e) {
    // It did not start: run it once more on an empty stdin to read what it said.
    const again = spawnSync(process.execPath, [CLI], {
      env: { PATH: process.env.PATH ?? '', HOME: tempDir('home-'), ...env },
      input: '',
      timeout: 10_000,
      encoding: 'utf8',
    });
    return { refused: `${String(e)}\n${again.stderr ?? ''}` };
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CallResult {
  kind: 'ok' | 'error' | 'protocol';
  /** structuredContent of a result (success or tool error). */
  sc?: any;
  error?: { code?: string | number; outcome?: string; message?: string; hint?: string };
  /** The protocol error's message. */
  protocol?: string;
}

/** One tools/call through the real client. A thrown error (protocol, schema) is a result too. */
export async function callTool(
  m: Connected,
  tool: string,
  args: Record<string, unknown>,
): Promise<CallResult> {
  try {
    const r: any = await m.client.callTool({ name: tool, arguments: args }, undefined, { timeout: 60_000 });
    const sc = r.structuredContent ?? safeJson(r.content?.[0]?.text);
    if (r.isError) return { kind: 'error', sc, error: sc?.error ?? { message: r.content?.[0]?.text } };
    return { kind: 'ok', sc };
  } catch (e) {
    return { kind: 'protocol', protocol: e instanceof McpError ? `${e.code}: ${e.message}` : String(e) };
  }
}

const safeJson = (t: unknown) => {
  try {
    return typeof t === 'string' ? JSON.parse(t) : undefined;
  } catch {
    return undefined;
  }
};

export const describeResult = (r: CallResult) =>
  r.kind === 'ok'
    ? `ok${r.sc?.replayed ? ' (replayed)' : ''}`
    : r.kind === 'protocol'
      ? `PROTOCOL ERROR ${r.protocol}`
      : `error ${r.error?.code} (${r.error?.outcome})`;

// ---------------------------------------------------------------------------------------------
// Operations: what one money call means, from the test's side and from the fake's books.

/** Meaning of a call: tool, resolved customer, points, program, group (reversal: redemption). */
export function opSig(tool: MoneyTool, customerId: number, args: Record<string, any>): string {
  if (tool === 'reverse_redemption')
    return `${tool}|${customerId}|${args.redemption_id}|${args.points ?? 'all'}`;
  return `${tool}|${customerId}|${args.points}|${args.program_id ?? ''}|${groupSig(args.group)}`;
}

const groupSig = (g: Record<string, string> | undefined) =>
  g
    ? Object.entries(g)
        .map(([k, v]) => `user_group2_${k === 'account_id' ? 'accountId' : k}=${v}`)
        .sort()
        .join('&')
    : '';

const TOOL_OF: Record<Route, MoneyTool> = {
  redeem: 'redeem_points',
  reverse: 'reverse_redemption',
  workflow: 'request_points_redemption',
};

export function commitSig(c: Commit): string {
  const tool = TOOL_OF[c.route];
  if (tool === 'reverse_redemption') return `${tool}|${c.customerId}|${c.redemptionId}|${c.points}`;
  return `${tool}|${c.customerId}|${c.points}|${c.programId ?? ''}|${c.group ?? ''}`;
}

/** Commits per operation for one customer, from the fake's books. */
export function commitsByOp(fake: FakeCapillary, customerId: number): Map<string, Commit[]> {
  const m = new Map<string, Commit[]>();
  for (const c of fake.commitsFor(customerId)) {
    const k = commitSig(c);
    m.set(k, [...(m.get(k) ?? []), c]);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Arguments and their variations.

export interface Subject {
  customer: FakeCustomer;
  /** Reversals: two redemptions made outside the server. */
  redemptions: string[];
}

export function subject(fake: FakeCapillary, tool: MoneyTool): Subject {
  const customer = fake.addCustomer();
  const redemptions =
    tool === 'reverse_redemption'
      ? [fake.seedRedemption(customer.id, 500), fake.seedRedemption(customer.id, 300)]
      : [];
  return { customer, redemptions };
}

export function baseArgs(tool: MoneyTool, s: Subject, points = 100): Record<string, any> {
  const customer = { mobile: s.customer.mobile };
  if (tool === 'reverse_redemption')
    return { redemption_id: s.redemptions[0], customer, points: points / 10 };
  const a: Record<string, any> = { customer, points, notes: 'order 1' };
  if (tool === 'request_points_redemption') a.entity = { till_id: 'till-1' };
  return a;
}

export interface Variation {
  name: string;
  /** Cosmetic: the same operation. */
  same: boolean;
  apply(a: Record<string, any>, s: Subject): Record<string, any>;
}

const v = (name: string, same: boolean, apply: Variation['apply']): Variation => ({ name, same, apply });

export const VARIATIONS: Record<MoneyTool, Variation[]> = {
  redeem_points: [
    v('identical', true, (a) => a),
    v('plus-mobile', true, (a) => ({ ...a, customer: { ...a.customer, mobile: `+${a.customer.mobile}` } })),
    v('notes-reworded', true, (a) => ({ ...a, notes: 'Order #1, second try' })),
    v('extra-identifier', true, (a, s) => ({ ...a, customer: { ...a.customer, email: s.customer.email } })),
    v('skip-validation-false', true, (a) => ({ ...a, skip_validation: false })),
    v('transaction-number', true, (a) => ({ ...a, transaction_number: 'BILL-1' })),
    v('other-points', false, (a) => ({ ...a, points: a.points + 30 })),
    v('other-program', false, (a) => ({ ...a, program_id: '2' })),
  ],
  request_points_redemption: [],
  reverse_redemption: [
    v('identical', true, (a) => a),
    v('plus-mobile', true, (a) => ({ ...a, customer: { ...a.customer, mobile: `+${a.customer.mobile}` } })),
    v('extra-identifier', true, (a, s) => ({ ...a, customer: { ...a.customer, email: s.customer.email } })),
    v('other-points', false, (a) => ({ ...a, points: a.points + 20 })),
    v('other-redemption', false, (a, s) => ({ ...a, redemption_id: s.redemptions[1] })),
  ],
};
VARIATIONS.request_points_redemption = VARIATIONS.redeem_points;

// ---------------------------------------------------------------------------------------------
// The referee.

type OpStatus = 'none' | 'unknown' | 'failed' | 'succeeded';

interface OpModel {
  tool: MoneyTool;
  status: OpStatus;
  /** Keys the fake saw for this operation, in order. */
  keys: string[];
  points: number;
}

export interface RefereeOptions {
  /**
   * Also check the outcome rules and the designed behaviour around "never twice": what was
   * applied is never reported failed or not_sent, an unknown attempt blocks the customer's other
   * money calls (unresolved_attempt), a keyless call is never re-sent, a keyed one is re-sent with
   * its key. Off: only the invariants (spends per operation, protocol errors, whose result).
   */
  strict?: boolean;
}

/**
 * Runs money calls for customers whose calls are sequential, attributes the fake's attempts to
 * each call, and records every broken rule in `violations`.
 */
export class Referee {
  readonly violations: string[] = [];
  readonly results: Array<{ label: string; tool: MoneyTool; r: CallResult; attempts: Attempt[] }> = [];
  private readonly ops = new Map<number, Map<string, OpModel>>();

  constructor(
    private readonly fake: FakeCapillary,
    private readonly opts: RefereeOptions = { strict: true },
  ) {}

  private model(customerId: number): Map<string, OpModel> {
    const m = this.ops.get(customerId) ?? new Map<string, OpModel>();
    this.ops.set(customerId, m);
    return m;
  }

  /** Records what the agent knows of an operation without a result (the server died mid-call). */
  assume(tool: MoneyTool, customerId: number, args: Record<string, any>, status: OpStatus): void {
    const ops = this.model(customerId);
    const sig = opSig(tool, customerId, args);
    const op = ops.get(sig) ?? { tool, status, keys: [], points: Number(args.points ?? 0) };
    op.status = status;
    for (const a of this.fake.attemptsFor(customerId, ROUTE[tool]))
      if (a.key && op.keys[op.keys.length - 1] !== a.key) op.keys.push(a.key);
    ops.set(sig, op);
  }

  /** Status of an operation, as the server has reported it so far. */
  status(tool: MoneyTool, customerId: number, args: Record<string, any>): OpStatus {
    return this.model(customerId).get(opSig(tool, customerId, args))?.status ?? 'none';
  }

  async call(
    m: Mcp,
    label: string,
    tool: MoneyTool,
    customerId: number,
    args: Record<string, any>,
  ): Promise<CallResult> {
    const sig = opSig(tool, customerId, args);
    const ops = this.model(customerId);
    const op: OpModel = ops.get(sig) ?? { tool, status: 'none', keys: [], points: Number(args.points ?? 0) };
    ops.set(sig, op);
    const blocking = [...ops.entries()].find(([k, o]) => k !== sig && o.status === 'unknown');
    const before = this.fake.attempts.length;
    const wasUnknown = op.status === 'unknown';

    const r = await callTool(m, tool, args);

    const attempts = this.fake.attempts
      .slice(before)
      .filter((a) => a.customerId === customerId && a.route === ROUTE[tool]);
    this.results.push({ label, tool, r, attempts });
    const bad = (rule: string) =>
      this.violations.push(
        `${label}: ${rule} [${describeResult(r)}; upstream saw ${attempts.length} attempt(s): ${attempts
          .map((a) => `${a.fault ?? 'normal'}/${a.applied}`)
          .join(', ')}]`,
      );

    // Invariant: a tool result, never a protocol error (the client checks the outputSchema).
    if (r.kind === 'protocol') bad('protocol error instead of a tool result');
    // Invariant: a success is this operation's, for this customer.
    if (r.kind === 'ok') for (const p of successProblems(this.fake, tool, customerId, args, r.sc)) bad(p);

    if (this.opts.strict) {
      // What was applied upstream is never reported as failed or not sent.
      const applied = attempts.some((a) => a.applied !== 'none');
      if (r.kind === 'error' && applied && (r.error?.outcome === 'failed' || r.error?.outcome === 'not_sent'))
        bad(`applied upstream but reported outcome "${r.error?.outcome}"`);
      if (r.kind === 'error' && attempts.length > 0 && r.error?.outcome === 'not_sent')
        bad('reached the upstream but reported outcome "not_sent"');
      // A replay of an operation that already succeeded may be answered either way.
      if (blocking && op.status !== 'succeeded') {
        if (r.kind !== 'error' || r.error?.code !== 'unresolved_attempt')
          bad(`another operation of this customer is unknown (${blocking[0]}): expected unresolved_attempt`);
        if (attempts.length) bad('sent while another operation of this customer is unknown');
      } else if (wasUnknown && !KEYED[tool]) {
        if (attempts.length) bad('a keyless call whose outcome is unknown was sent again');
        if (r.kind === 'ok') bad('a keyless call whose outcome is unknown reported success');
      } else if (wasUnknown && KEYED[tool]) {
        const last = op.keys[op.keys.length - 1];
        for (const a of attempts)
          if (last && a.key !== last)
            bad(`an unknown attempt was re-sent with a new key (${a.key} after ${last})`);
      }
      // Within one call a keyless request is sent at most once.
      if (!KEYED[tool] && attempts.length > 1)
        bad(`a keyless call was sent ${attempts.length} times in one call`);
    }

    for (const a of attempts) if (a.key && op.keys[op.keys.length - 1] !== a.key) op.keys.push(a.key);
    if (r.kind === 'ok') op.status = 'succeeded';
    else if (r.kind === 'error' && r.error?.outcome === 'unknown') op.status = 'unknown';
    else if (r.kind === 'error' && r.error?.outcome === 'failed') op.status = 'failed';
    else if (r.kind === 'protocol' && attempts.length) op.status = 'unknown';
    return r;
  }

  /** End-of-scenario checks from the fake's books: at most one commit per operation, points moved. */
  finish(customerId: number, label: string): void {
    this.violations.push(...bookProblems(this.fake, customerId, label));
  }
}

/** From the fake's books: at most one commit per operation, and the points moved agree. */
export function bookProblems(fake: FakeCapillary, customerId: number, label: string): string[] {
  const out: string[] = [];
  let allowed = 0;
  for (const [sig, cs] of commitsByOp(fake, customerId)) {
    if (cs.length > 1)
      out.push(
        `${label}: SPENT TWICE: ${sig} committed ${cs.length} times upstream (keys ${cs.map((c) => c.key ?? '-').join(', ')})`,
      );
    const c = cs[0];
    if (c.route === 'redeem') allowed += c.points;
    if (c.route === 'reverse') allowed -= c.points;
  }
  const moved = fake.pointsMoved(customerId);
  if (Math.abs(moved - allowed) > 1e-9)
    out.push(`${label}: points moved upstream ${moved}, one spend per operation allows ${allowed}`);
  return out;
}

/** What is wrong with a success result: it must be this operation's, for this customer. */
export function successProblems(
  fake: FakeCapillary,
  tool: MoneyTool,
  customerId: number,
  args: Record<string, any>,
  sc: any,
): string[] {
  const out: string[] = [];
  if (args.dry_run) return out;
  const mine = commitsByOp(fake, customerId).get(opSig(tool, customerId, args)) ?? [];
  if (!mine.length) out.push('reported success, but the upstream applied nothing for this operation');
  if (tool === 'redeem_points') {
    if (sc?.user_id !== undefined && sc.user_id !== String(customerId))
      out.push(`reported another customer's redemption (user_id ${sc.user_id})`);
    if (sc?.redemption_id !== undefined && !mine.some((c) => c.redemptionId === sc.redemption_id))
      out.push(`reported redemption ${sc.redemption_id}, which is not this operation's`);
  } else if (tool === 'reverse_redemption') {
    if (sc?.redemption_id !== undefined && sc.redemption_id !== args.redemption_id)
      out.push(`reported a reversal of another redemption (${sc.redemption_id})`);
  } else if (sc?.request_id !== undefined && !mine.some((c) => c.requestId === sc.request_id)) {
    out.push(`reported request ${sc.request_id}, which is not this operation's`);
  }
  return out;
}

/** A readable failure message for a list of violations (long lists are cut). */
export function report(violations: string[], max = 40): string {
  if (!violations.length) return '';
  const shown = [...violations].sort().slice(0, max).join('\n  ');
  return `${violations.length} violation(s):\n  ${shown}${violations.length > max ? `\n  ... and ${violations.length - max} more` : ''}`;
}

export { tempDir };
