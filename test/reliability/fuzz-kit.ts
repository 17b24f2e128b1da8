import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { expect } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServer } from '../../src/mcp/server.js';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';
import { CANARY, liveEnv, Sweep } from '../fixtures/canary.js';
import { connectStdio } from '../fixtures/clients.js';
import { basicHeader, CapillaryModel, FakeCapillary, type Recorded } from '../fixtures/fake-capillary.js';
import { within } from '../fixtures/lifecycle.js';
import {
  expectPreview,
  expectWire,
  type Invalid,
  SPEND_TOOLS,
  type ToolName,
  type WireContext,
} from './arbitraries.js';

/** The fuzz suites' shared harness and oracle (in-process and stdio use the very same checks). */

export const figures = {
  inputs: 0,
  invalidInputs: 0,
  junkInputs: 0,
  junkAccepted: 0,
  validInputs: 0,
  edgeCases: 0,
  requestsChecked: 0,
  replays: 0,
  dryRuns: 0,
};
export const sweep = new Sweep();

export interface Harness {
  client: Client;
  /** Server stderr so far (stdio harness; in-process logs go to this process). */
  stderr(): string;
  fake: FakeCapillary;
  cap: CapillaryModel;
  ctx: WireContext;
  dataDir: string;
  /** Operations already spent (operationOf), and which operation owns each agent key. */
  spent: Set<string>;
  keyOwner: Map<string, string>;
  close(): Promise<void>;
}

/** The fake Capillary every harness talks to, and the server's environment for it. */
async function fakeCapillary() {
  const cap = new CapillaryModel(
    { basic: basicHeader(CANARY.user, CANARY.password) },
    { orgId: '777', uiToken: CANARY.uiToken },
  );
  const fake = await new FakeCapillary(cap.handle).start();
  // No identity cache: one identifier may belong to different fuzzed customers from run to run.
  // The operator's argument policies off: these runs check that every argument reaches the wire.
  const env = liveEnv(fake.url, {
    CAPILLARY_LOG_LEVEL: 'debug',
    CAPILLARY_IDENTITY_CACHE_SECONDS: '0',
    CAPILLARY_ALLOW_SKIP_VALIDATION: 'true',
    CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR: '1000000',
  });
  return { cap, fake, env };
}

function harness(
  u: Awaited<ReturnType<typeof fakeCapillary>>,
  client: Client,
  stderr: () => string,
  closeServer: () => Promise<void>,
): Harness {
  return {
    client,
    stderr,
    fake: u.fake,
    cap: u.cap,
    dataDir: u.env.CAPILLARY_DATA_DIR,
    ctx: {
      baseUrl: u.fake.url,
      basic: basicHeader(CANARY.user, CANARY.password),
      orgId: '777',
      uiToken: CANARY.uiToken,
      signature: 'maker.bot',
    },
    spent: new Set(),
    keyOwner: new Map(),
    async close() {
      await closeServer();
      await u.fake.close();
    },
  };
}

/** createServer(createApp(...)) in this process, over an in-memory transport: fast. */
export async function inProcessHarness(): Promise<Harness> {
  const u = await fakeCapillary();
  const app = createApp(loadConfig(u.env), ALL_TOOLS);
  const server = createServer(app);
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await server.connect(st);
  const client = new Client({ name: 'fuzz', version: '1.0.0' });
  await client.connect(ct);
  // Listing caches every tool's output schema in the client, which then checks each result against it.
  await client.listTools();
  return harness(
    u,
    client,
    () => '',
    async () => {
      await client.close();
      await app.close();
    },
  );
}

export const canonical = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
};

/**
 * The operation a money call stands for, as the server promises to tell them apart (see
 * docs/safety.md): whose points (the customer id the upstream's look-up gives, or the group),
 * what moves, and the agent's own key. Notes, a `+` before the mobile, an extra identifier of
 * the same customer or a different till do not make a new operation: a repeat that differs only
 * so is replayed, not spent again. Written here from the promise, not from the server's code.
 */
function operationOf(tool: string, args: Record<string, any>, agentKey: string | undefined): string {
  const digits = (v: unknown) => (typeof v === 'number' ? String(v) : v);
  const exact = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, exact(x)]))
      : digits(v);
  const group = args.group ? exact(args.group) : undefined;
  const whose = group ?? FakeCapillary.identify(args.customer ?? {}).id;
  const points = typeof args.points === 'string' && args.points !== 'all' ? Number(args.points) : args.points;
  const what =
    tool === 'reverse_redemption'
      ? { redemption_id: digits(args.redemption_id), points }
      : { points, program_id: digits(args.program_id) };
  return canonical({ tool, whose, what, key: agentKey });
}

/** Calls a tool with the arguments as a real transport would carry them (a JSON round trip). */
export async function call(h: Harness, tool: string, args: unknown) {
  const wire = JSON.parse(JSON.stringify(args));
  // The fuzzer's customer is one customer under every identifier it names (the server resolves
  // them through the look-up and refuses identifiers of different customers).
  const customer = (wire as { customer?: unknown } | null)?.customer;
  if (customer && typeof customer === 'object' && !Array.isArray(customer))
    h.fake.knowCustomer(customer as Record<string, unknown>);
  const before = h.fake.requests.length;
  const r = (await within(h.client.callTool({ name: tool, arguments: wire }), 15_000, tool)) as any;
  const sent: Recorded[] = h.fake.requests.slice(before);
  sweep.add(`${tool} result`, r);
  figures.inputs++;
  expect(r.content?.[0]?.type).toBe('text');
  expect(JSON.parse(r.content[0].text)).toEqual(r.structuredContent);
  return { r, sc: r.structuredContent as any, sent, args: wire };
}

export function expectValidationError(sc: any, sent: Recorded[], inv?: Invalid): void {
  const e = sc?.error;
  expect(e, JSON.stringify(sc)).toBeDefined();
  expect(e).toMatchObject({ source: 'validation', outcome: 'not_sent', retryable: false });
  expect(sent).toEqual([]);
  expect(typeof e.message).toBe('string');
  expect(e.message.length).toBeGreaterThan(5);
  expect(e.message.length).toBeLessThanOrEqual(800);
  expect(e.hint).toMatch(/nothing was sent/);
  const crossField = e.code === '748' || e.code === '749';
  if (!crossField) {
    expect(typeof e.field, JSON.stringify(e)).toBe('string');
    expect(e.message).toContain(e.field.split('.').slice(-1)[0]);
  }
  if (inv && !crossField) {
    const top = (s: string) => s.split('.')[0];
    if (inv.parentExisted)
      expect(
        e.field.startsWith(inv.field) || inv.field.startsWith(e.field),
        `${inv.kind}: field ${e.field}`,
      ).toBe(true);
    else expect(top(e.field)).toBe(top(inv.field));
  }
  if (inv?.field === 'points') expect(['801', '878', '901', 'invalid_argument']).toContain(e.code);
}

/** The answer to arguments the schema accepts: the documented request, a preview, or a replay. */
export function expectAccepted(
  h: Harness,
  tool: ToolName,
  args: any,
  sc: any,
  sent: Recorded[],
  isError: boolean,
): void {
  const spend = SPEND_TOOLS.has(tool);
  if (args.dry_run) {
    figures.dryRuns++;
    expect(isError, JSON.stringify(sc)).toBeFalsy();
    expect(sent).toEqual([]);
    expectPreview(tool, args, sc.dry_run_request, h.ctx, sc.idempotency_key);
    return;
  }
  if (spend) {
    const given = args.external_reference_number as string | number | undefined;
    const agentKey = typeof given === 'number' ? String(given) : given;
    const op = operationOf(tool, args, agentKey);
    if (h.spent.has(op)) {
      figures.replays++;
      expect(isError, JSON.stringify(sc)).toBeFalsy();
      expect(sc.replayed).toBe(true);
      expect(sent).toEqual([]);
      return;
    }
    if (agentKey && h.keyOwner.has(agentKey) && h.keyOwner.get(agentKey) !== op) {
      expect(sc.error).toMatchObject({ code: 'key_conflict', source: 'safety', outcome: 'not_sent' });
      expect(sent).toEqual([]);
      return;
    }
    expect(isError, JSON.stringify(sc)).toBeFalsy();
    expect(sc.replayed).toBeUndefined();
    expect(sent.length).toBe(1);
    const key = tool === 'reverse_redemption' ? undefined : sc.idempotency_key;
    if (tool !== 'reverse_redemption') {
      expect(key).toBe(agentKey ?? key);
      if (!agentKey) expect(key).toMatch(tool === 'redeem_points' ? /^mcp-rdm-/ : /^mcp-req-/);
    }
    expectWire(tool, args, sent[0], h.ctx, key);
    figures.requestsChecked++;
    h.spent.add(op);
    if (key) h.keyOwner.set(key, op);
    return;
  }
  expect(isError, JSON.stringify(sc)).toBeFalsy();
  expect(sent.length).toBe(1);
  expectWire(tool, args, sent[0], h.ctx);
  figures.requestsChecked++;
}

/** The built server (dist/cli.js) over stdio with the SDK's real Client: the real path. */
export async function stdioHarness(): Promise<Harness> {
  const u = await fakeCapillary();
  const m = await connectStdio(u.env);
  await m.client.listTools();
  return harness(u, m.client, m.stderr, () => m.close());
}
