import { afterAll, describe, expect, it } from 'vitest';
import { CANARY, liveEnv, Sweep } from '../fixtures/canary.js';
import { type Connected, connectStdio } from '../fixtures/clients.js';
import { readAudit, readLedger } from '../fixtures/data-dir.js';
import {
  basicHeader,
  CapillaryModel,
  FakeCapillary,
  type Recorded,
  type Reply,
  redeemRefused,
} from '../fixtures/fake-capillary.js';
import { closeAfterEach, within } from '../fixtures/lifecycle.js';
import { writeFigures } from './support.js';

/**
 * Every way an HTTP upstream can fail, against the built server over stdio. For each fault:
 * the server stays up and answers the next call; the error says clearly whether the outcome is
 * known (error.outcome not_sent | failed | unknown); nothing that could spend is sent twice
 * (requests and real spends are counted at the fake, which deduplicates by
 * external_reference_number like Capillary); and the ledger records what really happened.
 */

const REDEEM = '/v1.1/points/redeem';
const TOKEN = '/v3/oauth/token/generate';
const BALANCE = '/v2/customers/lookup/points/balance';
const UPDATE = '/v2/points/updateRedemption';
const REVERSE = '/v2/points/reverse';
const TIMEOUT_MS = 800;

// Retained: OAuth tokens issued by the fake are added as secrets at the end of each scenario.
const sweep = new Sweep({ retain: true });
const figures = { faults: 0, scenarios: 0, toolCalls: 0, doubleSpends: 0 };
const track = closeAfterEach();
afterAll(() => {
  const leaks = sweep.check();
  writeFigures({ suite: 'faults', ...figures, leaks: leaks.length, scanned: sweep.scannedItems });
  expect(leaks).toEqual([]);
});

const v11 = (success: boolean, code: number, message: string) => ({
  response: { status: { success: String(success), code, message } },
});
const v2 = (code: number, message: string) => ({ errors: [{ status: false, code, message }], warnings: [] });

type Mode = 'basic' | 'oauth';
interface Scenario {
  cap: CapillaryModel;
  fake: FakeCapillary;
  m: Connected;
  env: Record<string, string>;
  call(name: string, args: Record<string, unknown>): Promise<any>;
  ledger(): any[];
  audit(): any[];
}

/** A fault plan: per route, what the nth request gets (undefined: the fake's normal answer). */
type Plan = (req: Recorded, n: number, cap: CapillaryModel) => Reply | undefined;

async function scenario(
  plan: Plan,
  mode: Mode = 'basic',
  extraEnv: Record<string, string> = {},
): Promise<Scenario> {
  figures.scenarios++;
  const cap = new CapillaryModel(
    mode === 'basic'
      ? { basic: basicHeader(CANARY.user, CANARY.password) }
      : { oauth: { key: CANARY.oauthKey, secret: CANARY.oauthSecret, tokenPrefix: CANARY.tokenPrefix } },
    { orgId: '777', uiToken: CANARY.uiToken },
  );
  const fake = track(await new FakeCapillary((req, n) => plan(req, n, cap) ?? cap.handle(req, n)).start());
  const base = liveEnv(fake.url, {
    CAPILLARY_TIMEOUT_MS: String(TIMEOUT_MS),
    CAPILLARY_LOG_LEVEL: 'debug',
    ...extraEnv,
  });
  const env =
    mode === 'basic'
      ? base
      : (() => {
          const { CAPILLARY_USERNAME: _u, CAPILLARY_PASSWORD: _p, ...rest } = base;
          return {
            ...rest,
            CAPILLARY_OAUTH_CLIENT_KEY: CANARY.oauthKey,
            CAPILLARY_OAUTH_CLIENT_SECRET: CANARY.oauthSecret,
          };
        })();
  const m = await connectStdio(env);
  track({
    close: async () => {
      await m.close();
      sweep.add('stderr', m.stderr());
      sweep.addDir('data dir', env.CAPILLARY_DATA_DIR);
      sweep.addSecret(...cap.issuedTokens);
    },
  });
  return {
    cap,
    fake,
    m,
    env,
    async call(name, args) {
      figures.toolCalls++;
      const r: any = await within(m.client.callTool({ name, arguments: args }), 20_000, name);
      sweep.add(`${name} result`, r);
      return r;
    },
    // Every segment of the ledger, in read order.
    ledger: () => readLedger(env.CAPILLARY_DATA_DIR),
    audit: () => readAudit(env.CAPILLARY_DATA_DIR),
  };
}

const lostAfterSpend =
  (route: string, answer: Reply, times = 1): Plan =>
  (req, n, cap) => {
    if (`${req.method} ${req.path}` !== route || n > times) return undefined;
    // The worst case for an unknown outcome: the upstream did apply it, then the answer was lost.
    cap.handle(req, n);
    return answer;
  };
const refusedBefore =
  (route: string, answer: Reply, times = 1): Plan =>
  (req, n) =>
    `${req.method} ${req.path}` === route && n <= times ? answer : undefined;

const redeemArgs = (tag: string) => ({ customer: { mobile: '919000000001' }, points: 12.5, notes: tag });

interface RedeemCase {
  /** Whether the first attempt spent (default: it succeeded or its outcome is unknown). */
  applied?: boolean;
  /** Whether the first attempt reached the ledger (default true; false when it failed while the
   * customer was being resolved, before anything was recorded). */
  recorded?: boolean;
  name: string;
  plan: Plan;
  mode?: Mode;
  /** Expected result of the first call. */
  first:
    | { ok: true }
    | { outcome: 'failed' | 'unknown' | 'not_sent'; code?: string | number; retryable?: boolean };
  /** Redeem requests the first call may make (retries only where nothing was processed). */
  requests: number;
  tokenRequests?: number;
}

const okRedeem = (req: Recorded) => {
  const item = JSON.parse(req.body).root.redeem[0];
  return {
    response: {
      status: { success: 'true', code: 200, message: 'Success' },
      responses: {
        points: {
          redemption_id: 'x',
          points_redeemed: item.points_redeemed,
          balance: 1,
          item_status: { success: 'true', code: 800, message: 'Points Redeemed' },
        },
      },
    },
  };
};

const REDEEM_CASES: RedeemCase[] = [
  {
    // A request-level 500 in the envelope proves nothing about the item: the outcome rules make
    // it unknown (only a documented refusal code, item- or request-level, proves nothing moved).
    name: '500 with a v1.1 error envelope (the API refused it)',
    plan: refusedBefore(`POST ${REDEEM}`, { status: 500, json: v11(false, 500, 'Internal Server Error') }),
    first: { outcome: 'unknown', code: 500 },
    // Refused before anything was spent, but it cannot be told from a commit: unknown, re-sent.
    applied: false,
    requests: 1,
  },
  {
    name: '500 with an empty body',
    plan: lostAfterSpend(`POST ${REDEEM}`, { status: 500, text: '' }),
    first: { outcome: 'unknown', code: 500 },
    requests: 1,
  },
  {
    name: '502 with an HTML body',
    plan: lostAfterSpend(`POST ${REDEEM}`, {
      status: 502,
      text: '<html><body><h1>502 Bad Gateway</h1></body></html>',
      headers: { 'content-type': 'text/html' },
    }),
    first: { outcome: 'unknown', code: 502 },
    requests: 1,
  },
  {
    name: '200 with malformed JSON',
    plan: lostAfterSpend(`POST ${REDEEM}`, { status: 200, text: '{"response":{"status":{"success":"true",' }),
    first: { outcome: 'unknown', code: 'malformed_response' },
    requests: 1,
  },
  {
    name: '200 with success "false"',
    plan: refusedBefore(`POST ${REDEEM}`, {
      status: 200,
      json: redeemRefused(816, 'Customer not found for organization'),
    }),
    first: { outcome: 'failed', code: 816 },
    requests: 1,
  },
  {
    name: '200 with an empty body',
    plan: lostAfterSpend(`POST ${REDEEM}`, { status: 200, text: '' }),
    first: { outcome: 'unknown', code: 'malformed_response' },
    requests: 1,
  },
  {
    name: 'a response slower than the timeout',
    plan: (req, n, cap) => {
      if (req.path !== REDEEM || n !== 1) return undefined;
      cap.handle(req, n);
      return { text: JSON.stringify(okRedeem(req)), delayMs: TIMEOUT_MS + 400 };
    },
    first: { outcome: 'unknown', code: 'timeout' },
    requests: 1,
  },
  {
    name: 'connection reset after the request body was read',
    plan: lostAfterSpend(`POST ${REDEEM}`, { fault: 'reset' }),
    first: { outcome: 'unknown', code: 'connection_lost' },
    requests: 1,
  },
  {
    name: 'headers sent, then the body cut off',
    plan: (req, n, cap) => {
      if (req.path !== REDEEM || n !== 1) return undefined;
      cap.handle(req, n);
      return { fault: 'partial', text: JSON.stringify(okRedeem(req)), cut: 25 };
    },
    first: { outcome: 'unknown' },
    requests: 1,
  },
  {
    name: '429 with Retry-After: 1, then OK',
    plan: refusedBefore(`POST ${REDEEM}`, {
      status: 429,
      headers: { 'retry-after': '1' },
      json: v11(false, 429, 'Too many requests'),
    }),
    first: { ok: true },
    requests: 2,
  },
  {
    name: '429 without Retry-After',
    plan: refusedBefore(`POST ${REDEEM}`, { status: 429, json: v11(false, 429, 'Too many requests') }),
    first: { outcome: 'failed', code: 429, retryable: true },
    requests: 1,
  },
  {
    name: '521 with Retry-After: 0, then OK',
    plan: refusedBefore(`POST ${REDEEM}`, {
      status: 521,
      headers: { 'retry-after': '0' },
      json: v11(false, 521, 'multiple actions running for same customer'),
    }),
    first: { ok: true },
    requests: 2,
  },
  {
    name: '521 without Retry-After, then OK',
    plan: refusedBefore(`POST ${REDEEM}`, {
      status: 521,
      json: v11(false, 521, 'multiple actions running for same customer'),
    }),
    first: { ok: true },
    requests: 2,
  },
  {
    name: '521 without Retry-After on every attempt',
    plan: refusedBefore(
      `POST ${REDEEM}`,
      { status: 521, json: v11(false, 521, 'multiple actions running for same customer') },
      4,
    ),
    first: { outcome: 'failed', code: 521, retryable: true },
    requests: 4,
  },
  {
    name: '503 with Retry-After: 0, then OK',
    plan: refusedBefore(`POST ${REDEEM}`, {
      status: 503,
      headers: { 'retry-after': '0' },
      text: 'Service Unavailable',
    }),
    first: { ok: true },
    requests: 2,
  },
  {
    name: 'OAuth: 401 (token expired upstream), then a fresh token',
    mode: 'oauth',
    plan: (req, n, cap) => {
      if (req.path === REDEEM && n === 1) cap.expireTokens();
      return undefined;
    },
    first: { ok: true },
    requests: 2,
    tokenRequests: 2,
  },
  {
    name: 'OAuth: the token endpoint times out',
    mode: 'oauth',
    recorded: false,
    plan: (req, n) => (req.path === TOKEN && n === 1 ? { fault: 'hang' } : undefined),
    first: { outcome: 'not_sent' },
    requests: 0,
    tokenRequests: 1,
  },
  {
    name: 'OAuth: the token endpoint resets the connection',
    mode: 'oauth',
    recorded: false,
    plan: (req, n) => (req.path === TOKEN && n === 1 ? { fault: 'reset' } : undefined),
    first: { outcome: 'not_sent' },
    requests: 0,
    tokenRequests: 1,
  },
  {
    name: 'OAuth: the token endpoint answers 502 HTML',
    mode: 'oauth',
    recorded: false,
    plan: (req, n) =>
      req.path === TOKEN && n === 1 ? { status: 502, text: '<html>bad gateway</html>' } : undefined,
    first: { outcome: 'not_sent' },
    requests: 0,
    tokenRequests: 1,
  },
  {
    name: 'OAuth: 401, then the token refresh times out',
    mode: 'oauth',
    plan: (req, n, cap) => {
      if (req.path === REDEEM && n === 1) cap.expireTokens();
      return req.path === TOKEN && n === 2 ? { fault: 'hang' } : undefined;
    },
    first: { outcome: 'not_sent' },
    requests: 1,
    tokenRequests: 2,
  },
  {
    name: 'an error body that echoes the credentials back',
    plan: refusedBefore(`POST ${REDEEM}`, { status: 400, json: {} }),
    first: { outcome: 'failed' },
    requests: 1,
  },
];
// The echo case needs the request to build its answer.
REDEEM_CASES[REDEEM_CASES.length - 1].plan = (req, n) =>
  req.path === REDEEM && n === 1
    ? {
        status: 400,
        json: v11(
          false,
          400,
          `bad request: ${JSON.stringify(req.headers)} ${req.body} md5=${req.headers.authorization}`,
        ),
      }
    : undefined;

describe('fault matrix: redeem_points (spend, key sent upstream)', () => {
  it.each(REDEEM_CASES)('$name', async (c) => {
    figures.faults++;
    const s = await scenario(c.plan, c.mode);
    const tag = `op-${figures.faults}`;
    const r1 = await s.call('redeem_points', redeemArgs(tag));
    const e = r1.structuredContent.error;
    expect(s.fake.count('POST', REDEEM), 'redeem requests during the first call').toBe(c.requests);
    if (c.tokenRequests !== undefined) expect(s.fake.count('POST', TOKEN)).toBe(c.tokenRequests);
    if ('ok' in c.first) {
      expect(r1.isError, JSON.stringify(e)).toBeFalsy();
    } else {
      expect(r1.isError).toBe(true);
      expect(e.outcome, JSON.stringify(e)).toBe(c.first.outcome);
      if (c.first.code !== undefined) expect(e.code).toBe(String(c.first.code));
      if (c.first.retryable !== undefined) expect(e.retryable).toBe(c.first.retryable);
      // Clear: a message, a hint, and (unknown) the instruction to repeat the identical call.
      expect(e.message.length).toBeGreaterThan(10);
      expect(e.hint?.length ?? 0).toBeGreaterThan(10);
      if (e.outcome === 'unknown') expect(e.hint).toMatch(/Repeat the identical call/);
      expect(['upstream', 'network', 'config', 'safety']).toContain(e.source);
    }
    const spentAfterFirst = s.cap.spends.filter((x) => x.notes === tag).length;
    const applied =
      (c as { applied?: boolean }).applied ?? ('ok' in c.first || c.first.outcome === 'unknown');
    expect(spentAfterFirst).toBe(applied ? 1 : 0);

    // The server is still up, and the identical call now settles it: one spend, never two.
    const r2 = await s.call('redeem_points', redeemArgs(tag));
    expect(r2.isError, JSON.stringify(r2.structuredContent)).toBeFalsy();
    const spends = s.cap.spends.filter((x) => x.notes === tag);
    expect(spends.length, 'real spends for this operation').toBe(1);
    if (s.cap.doubleSpends() > 0) figures.doubleSpends++;

    // The ledger tells the truth about every attempt.
    const lines = s.ledger().filter((l) => l.tool === 'redeem_points');
    const statuses = lines.map((l) => l.status);
    if ('ok' in c.first) {
      expect(statuses).toEqual(['pending', 'succeeded']);
      expect(r2.structuredContent.replayed).toBe(true);
    } else if (c.first.outcome === 'unknown') {
      expect(statuses).toEqual(['pending', 'unknown', 'pending', 'succeeded']);
      expect(new Set(lines.map((l) => l.key)).size).toBe(1);
      expect(r2.structuredContent.note).toMatch(
        /unknown outcome; re-sent with the same external_reference_number/,
      );
    } else if (c.recorded === false) {
      expect(statuses).toEqual(['pending', 'succeeded']);
    } else {
      expect(statuses).toEqual(['pending', 'failed', 'pending', 'succeeded']);
      expect(lines[0].key).not.toBe(lines[2].key);
    }
    expect(lines[lines.length - 1].key).toBe(spends[0].key);
    const audit = s.audit().filter((a) => a.tool === 'redeem_points');
    expect(audit.length).toBeGreaterThanOrEqual(2);
  });
});

/** Faults on the other kinds of tool: a read, an idempotent update, and a keyless spend. */
const OTHER_FAULTS: Array<{ name: string; answer: (req: Recorded) => Reply; applied: boolean }> = [
  { name: '500 empty', answer: () => ({ status: 500, text: '' }), applied: true },
  {
    name: '502 HTML',
    answer: () => ({ status: 502, text: '<html>502</html>', headers: { 'content-type': 'text/html' } }),
    applied: true,
  },
  { name: '200 malformed JSON', answer: () => ({ text: '{"data":' }), applied: true },
  { name: '200 empty body', answer: () => ({ text: '' }), applied: true },
  { name: 'slower than the timeout', answer: () => ({ json: {}, delayMs: TIMEOUT_MS + 400 }), applied: true },
  { name: 'reset after the body was read', answer: () => ({ fault: 'reset' }), applied: true },
  {
    name: 'v2 errors array with HTTP 200',
    answer: () => ({ json: v2(8015, 'Invalid identifier: customer not found') }),
    applied: false,
  },
  {
    name: '429 without Retry-After',
    answer: () => ({ status: 429, json: v2(429, 'Too many requests') }),
    applied: false,
  },
];

describe('fault matrix: a read, an update and a keyless spend', () => {
  it.each(OTHER_FAULTS)('$name', async (f) => {
    figures.faults += 3;
    const routes = [`GET ${BALANCE}`, `PUT ${UPDATE}`, `POST ${REVERSE}`];
    const s = await scenario((req, n, cap) => {
      if (!routes.includes(`${req.method} ${req.path}`) || n > 1) return undefined;
      if (f.applied) cap.handle(req, n);
      return f.answer(req);
    });
    // Read: never an "unknown" (nothing changes); retried at most once when the answer was lost.
    const b1 = await s.call('get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '919000000001',
    });
    if (b1.isError) expect(['failed', 'not_sent']).toContain(b1.structuredContent.error.outcome);
    expect(s.fake.count('GET', BALANCE)).toBeLessThanOrEqual(2);
    const b2 = await s.call('get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '919000000001',
    });
    expect(b2.isError).toBeFalsy();

    // Update (idempotent, not a spend): never retried by the server; the outcome is stated.
    const u = {
      redemption_id: 'r1',
      purpose: 'fix',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: '919000000001' },
    };
    const u1 = await s.call('update_redemption', u);
    expect(s.fake.count('PUT', UPDATE)).toBe(1);
    if (u1.isError) expect(u1.structuredContent.error.outcome).toBe(f.applied ? 'unknown' : 'failed');
    expect((await s.call('update_redemption', u)).isError).toBeFalsy();

    // Reverse (spend, no key upstream): an unknown outcome is never re-sent blindly.
    const rv = { redemption_id: 'r9', customer: { mobile: '919000000001' }, points: 3 };
    const v1 = await s.call('reverse_redemption', rv);
    expect(v1.isError).toBe(true);
    const v2r = await s.call('reverse_redemption', rv);
    if (v1.structuredContent.error.outcome === 'unknown') {
      expect(v2r.structuredContent.error).toMatchObject({ code: 'outcome_unknown', outcome: 'not_sent' });
      expect(s.fake.count('POST', REVERSE)).toBe(1);
      expect(
        s
          .ledger()
          .filter((l) => l.tool === 'reverse_redemption')
          .map((l) => l.status),
      ).toEqual(['pending', 'unknown']);
    } else {
      expect(v2r.isError).toBeFalsy();
      expect(s.fake.count('POST', REVERSE)).toBe(2);
      expect(
        s
          .ledger()
          .filter((l) => l.tool === 'reverse_redemption')
          .map((l) => l.status),
      ).toEqual(['pending', 'failed', 'pending', 'succeeded']);
    }
    expect(s.cap.reversals.length).toBe(
      f.applied ? (v1.structuredContent.error.outcome === 'unknown' ? 1 : 2) : 1,
    );
  });
});

describe('a re-send after an unknown outcome that fails for a transient reason', () => {
  // Attempt 1 is applied upstream but its answer is lost (unknown). Attempt 2 re-sends the same
  // key and is refused without being processed. Attempt 3 must still re-send that key: a fresh
  // key would spend a second time.
  const second: Array<[string, Reply | 'down']> = [
    ['429 without Retry-After', { status: 429, json: v11(false, 429, 'Too many requests') }],
    [
      '521 on every attempt',
      { status: 521, json: v11(false, 521, 'multiple actions running for same customer') },
    ],
    ['503 without Retry-After', { status: 503, text: 'Service Unavailable' }],
    ['connection refused (upstream down)', 'down'],
  ];
  it.each(second)('%s', async (_name, answer) => {
    figures.faults += 2;
    let phase = 1;
    const s = await scenario((req, _n, cap) => {
      if (req.path !== REDEEM) return undefined;
      if (phase === 1) {
        cap.handle(req, 0);
        return { fault: 'reset' };
      }
      if (phase === 2 && answer !== 'down') return answer;
      return undefined;
    });
    const tag = 'resend-op';
    const r1 = await s.call('redeem_points', redeemArgs(tag));
    expect(r1.structuredContent.error.outcome).toBe('unknown');
    phase = 2;
    const port = s.fake.port;
    if (answer === 'down') await s.fake.close();
    const r2 = await s.call('redeem_points', redeemArgs(tag));
    expect(r2.isError).toBe(true);
    // The operation's outcome is still unknown, whatever this attempt met.
    expect(r2.structuredContent.error.outcome, JSON.stringify(r2.structuredContent.error)).toBe('unknown');
    expect(r2.structuredContent.error.hint).toMatch(/Repeat the identical call/);
    phase = 3;
    if (answer === 'down') await s.fake.start(port);
    const r3 = await s.call('redeem_points', redeemArgs(tag));
    expect(r3.isError, JSON.stringify(r3.structuredContent)).toBeFalsy();
    const spends = s.cap.spends.filter((x) => x.notes === tag);
    if (spends.length > 1) figures.doubleSpends++;
    expect(spends.length, 'real spends').toBe(1);
    const keys = new Set(s.ledger().map((l) => l.key));
    expect(keys.size).toBe(1);
    expect(s.ledger().map((l) => l.status)).toEqual([
      'pending',
      'unknown',
      'pending',
      'unknown',
      'pending',
      'succeeded',
    ]);
  });
});
