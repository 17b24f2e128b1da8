/**
 * Caps and confirmation tried as an adversary would: the same customer under every identifier
 * and spelling, amounts split below a threshold, reversals split, many small calls at once, two
 * server processes on one data directory, maker-checker beside direct redemptions, the
 * customer's consent skipped, codes spammed, answers forged and replayed over HTTP.
 *
 * Every case asserts what the upstream itself committed (CountingCapillary's books), never the
 * server's account of it.
 */
import { request as httpRequest } from 'node:http';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { liveEnv as canaryEnv } from '../fixtures/canary.js';
import { spawnCli, spawnHttp, tempDir } from '../fixtures/cli.js';
import {
  type Connected,
  call,
  connectHttp,
  connectStdio,
  MCP_HEADERS,
  raw,
  rpc,
} from '../fixtures/clients.js';
import { LEDGERS, ledgerEnv } from './harness.js';
import { ASHA, ASHA_SPELLINGS, CountingCapillary, RAVI } from './limits-upstream.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
});

async function upstream(delayMs = 0): Promise<CountingCapillary> {
  const up = await new CountingCapillary().start();
  up.delayMs = delayMs;
  open.push(up);
  return up;
}

type Answer = 'accept' | 'decline' | 'cancel';

/** A server over stdio; with `answer`, its client declares elicitation and answers every question so. */
async function server(
  env: Record<string, string>,
  answer?: Answer | ((message: string) => Answer),
): Promise<Connected & { asked: string[] }> {
  const m = await connectStdio(env, answer ? { capabilities: { elicitation: {} } } : {});
  open.push(m);
  const asked: string[] = [];
  if (answer)
    m.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      const message = (req.params as { message: string }).message;
      asked.push(message);
      const a = typeof answer === 'function' ? answer(message) : answer;
      return a === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: a };
    });
  return { ...m, asked };
}

const redeem = (m: Connected, customer: Record<string, string>, points: number, key: string, extra = {}) =>
  call(m.client, 'redeem_points', { customer, points, external_reference_number: key, ...extra });
/** `n` calls at once, each a new operation, over every spelling of one customer and the servers in turn. */
const burst = (servers: Connected[], n: number, points: number, tag: string) =>
  Promise.all(
    Array.from({ length: n }, (_, i) =>
      redeem(servers[i % servers.length], ASHA_SPELLINGS[i % ASHA_SPELLINGS.length], points, `${tag}-${i}`),
    ),
  );
const errorOf = (r: { structuredContent: any }) => r.structuredContent?.error;
const codes = (rs: Array<{ structuredContent: any }>) => rs.map((r) => errorOf(r)?.code ?? 'ok');

/** The ledger of the test running now: the file ledger, or a fresh PostgreSQL database. */
let ledgerVars: Record<string, string> = {};
/** A server's settings on the test's ledger (servers given one env share one ledger). */
const liveEnv = (url: string, extra: Record<string, string> = {}) => ({
  ...canaryEnv(url, extra),
  ...ledgerVars,
});

describe.each(LEDGERS)('limits on the %s ledger', (ledger) => {
  beforeEach(async () => {
    ledgerVars = await ledgerEnv(ledger);
  });

  describe('one customer, one budget, under every identifier', () => {
    it('every identifier and spelling of one customer draws on one daily cap', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url, { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100' }));
      const rs = [];
      for (const [i, customer] of ASHA_SPELLINGS.entries())
        rs.push(await redeem(m, customer, 40, `spell-${i}`));
      expect(up.spent(ASHA.id)).toBe(80);
      expect(codes(rs).filter((c) => c === 'ok')).toHaveLength(2);
      const refused = rs.map(errorOf).filter(Boolean);
      expect(refused).toHaveLength(ASHA_SPELLINGS.length - 2);
      for (const e of refused) {
        expect(e).toMatchObject({
          code: 'cap_per_customer_per_day',
          outcome: 'not_sent',
          limit: { name: 'CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY', value: 100, left: 20 },
        });
        // When it frees up: 24 h after the first redemption.
        expect(Date.parse(e.limit.frees_at) - Date.now()).toBeGreaterThan(23 * 3_600_000);
      }
    });

    it('maker-checker requests count when filed, against the same cap as direct redemptions', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url, { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100' }));
      const filed = await call(m.client, 'request_points_redemption', {
        entity: { till_id: '7' },
        customer: { mobile: '+919000000001' },
        points: 60,
      });
      expect(filed.isError, JSON.stringify(filed.structuredContent)).toBeFalsy();
      const direct = await redeem(m, { email: 'ASHA@example.com' }, 60, 'mc-1');
      expect(errorOf(direct)).toMatchObject({ code: 'cap_per_customer_per_day', limit: { left: 40 } });
      const second = await call(m.client, 'request_points_redemption', {
        entity: { store_id: '9' },
        customer: { id: '0101' },
        points: 41,
      });
      expect(errorOf(second)?.code).toBe('cap_per_customer_per_day');
      expect((await redeem(m, { external_id: 'EXT-101' }, 40, 'mc-2')).isError).toBeFalsy();
      expect(up.spent(ASHA.id)).toBe(100);
    });

    it('a group redemption is capped on the group, whichever member asks', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url, { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100' }));
      const group = { id: 'G-7' };
      expect((await redeem(m, { mobile: ASHA.mobile! }, 70, 'g-1', { group })).isError).toBeFalsy();
      const other = await redeem(m, { mobile: RAVI.mobile! }, 70, 'g-2', { group });
      expect(errorOf(other)?.code).toBe('cap_per_customer_per_day');
      expect(up.spent('group:G-7')).toBe(70);
    });

    it('one group named three ways (id with leading zeros, external id, primary member) has one cap', async () => {
      const up = await upstream();
      const m = await server(
        liveEnv(up.url, {
          CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100',
          CAPILLARY_CONFIRM_ABOVE_POINTS: '500',
        }),
      );
      expect(
        (await redeem(m, { mobile: ASHA.mobile! }, 70, 'gn-1', { group: { id: '7' } })).isError,
      ).toBeFalsy();
      // By id (however spelt) the cap counts once; by another name the server cannot tell the group
      // and refuses before anything is sent.
      for (const [i, [group, code]] of (
        [
          [{ id: '0007' }, 'cap_per_customer_per_day'],
          [{ id: '7', external_id: 'GRP-7' }, 'cap_per_customer_per_day'],
          [{ external_id: 'GRP-7' }, 'group_id_required'],
          [{ primary_user_id: String(ASHA.id) }, 'group_id_required'],
        ] as const
      ).entries()) {
        const r = await redeem(m, { mobile: RAVI.mobile! }, 70, `gn-${i + 2}`, { group });
        expect(errorOf(r), JSON.stringify(group)).toMatchObject({ code, outcome: 'not_sent' });
      }
      // Without a limit keyed on whose points, any documented naming is accepted.
      const free = await server(liveEnv(up.url, {}));
      const byExternal = await redeem(free, { mobile: RAVI.mobile! }, 5, 'gn-free', {
        group: { external_id: 'GRP-7' },
      });
      expect(byExternal.isError, JSON.stringify(byExternal.structuredContent)).toBeFalsy();
      // What the upstream moved from the group's pool, by its own books.
      expect(up.spent('group:7')).toBe(75);
      expect(up.committed.filter((c) => c.customer.startsWith('group:')).length).toBe(2);
    });

    it('the per-server cap holds over all customers together', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url, { CAPILLARY_MAX_POINTS_PER_SERVER_PER_DAY: '150' }));
      expect((await redeem(m, { mobile: ASHA.mobile! }, 100, 's-1')).isError).toBeFalsy();
      const r = await redeem(m, { mobile: RAVI.mobile! }, 100, 's-2');
      expect(errorOf(r)).toMatchObject({
        code: 'cap_per_server_per_day',
        limit: { name: 'CAPILLARY_MAX_POINTS_PER_SERVER_PER_DAY', value: 150, left: 50 },
      });
      expect((await redeem(m, { mobile: RAVI.mobile! }, 50, 's-3')).isError).toBeFalsy();
      expect(up.spent(ASHA.id) + up.spent(RAVI.id)).toBe(150);
    });
  });

  describe('confirmation is a budget per customer', () => {
    it('after a decline, splitting below the threshold under other identifiers gains nothing', async () => {
      const up = await upstream();
      const m = await server(
        liveEnv(up.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '1000' }),
        'decline',
      );
      const big = await redeem(m, { mobile: '+919000000001', email: 'Asha@example.com' }, 4000, 'big', {
        program_id: '973',
        skip_validation: false,
      });
      expect(errorOf(big)).toMatchObject({
        code: 'confirmation_declined',
        limit: { name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS', value: 3600 },
      });
      // The question named everything that makes the operation.
      const q = m.asked[0];
      expect(q).toMatch(/tool: redeem_points/);
      expect(q).toMatch(/mobile \+919000000001, email Asha@example\.com \(Capillary customer id 101\)/);
      expect(q).toMatch(/points: 4000/);
      expect(q).toMatch(/program: 973/);
      expect(q).toMatch(/group \(points drawn from its pool\): none/);
      expect(q).toMatch(/skip_validation: false/);
      const split = [];
      for (const [i, customer] of ASHA_SPELLINGS.slice(0, 4).entries())
        split.push(await redeem(m, customer, 1000, `split-${i}`));
      expect(codes(split)).toEqual(Array(4).fill('confirmation_declined'));
      // Each small call asked again, saying why: the earlier no.
      expect(m.asked.slice(1).every((a) => /said no/.test(a))).toBe(true);
      expect(up.spent()).toBe(0);
    });

    it('a client that cannot ask: after a no elsewhere, every money call for the customer is refused for the cooldown', async () => {
      const up = await upstream();
      const env = liveEnv(up.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '1000' });
      const a = await server(env, 'cancel');
      expect(errorOf(await redeem(a, { id: '101' }, 1500, 'c-1'))?.code).toBe('confirmation_cancelled');
      await a.close();
      const b = await server(env);
      const r = await redeem(b, { external_id: 'EXT-101' }, 5, 'c-2');
      expect(errorOf(r)).toMatchObject({
        code: 'confirmation_unavailable',
        limit: { name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS' },
      });
      expect(errorOf(r).limit.frees_at).toBeDefined();
      // Another customer is not affected.
      expect((await redeem(b, { mobile: RAVI.mobile! }, 5, 'c-3')).isError).toBeFalsy();
      expect(up.spent(ASHA.id)).toBe(0);
    });

    it('without a decline, split calls share one budget: at most the threshold moves without a yes', async () => {
      const up = await upstream();
      const m = await server(
        liveEnv(up.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '1000' }),
      );
      const rs = [];
      for (const [i, customer] of ASHA_SPELLINGS.slice(0, 6).entries())
        rs.push(await redeem(m, customer, 300, `b-${i}`));
      expect(codes(rs)).toEqual(['ok', 'ok', 'ok', ...Array(3).fill('confirmation_unavailable')]);
      expect(errorOf(rs[3]).limit).toMatchObject({
        name: 'CAPILLARY_CONFIRM_ABOVE_POINTS',
        value: 1000,
        left: 100,
      });
      expect(up.spent()).toBe(900);
    });

    it('a yes is recorded: the repeat of that operation does not ask again, and its points count toward the budget', async () => {
      const up = await upstream();
      const m = await server(
        liveEnv(up.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }),
        'accept',
      );
      expect((await redeem(m, { mobile: ASHA.mobile! }, 500, 'y-1', { notes: 'first' })).isError).toBeFalsy();
      expect(m.asked).toHaveLength(1);
      // The same operation by meaning (a cosmetic difference): replayed, nobody asked.
      const again = await redeem(m, { id: '00101' }, 500, 'y-1', { notes: 'reworded' });
      expect(again.structuredContent.replayed).toBe(true);
      expect(m.asked).toHaveLength(1);
      // A new small operation asks: the approved 500 are in the window.
      expect((await redeem(m, { email: 'asha@example.com' }, 10, 'y-2')).isError).toBeFalsy();
      expect(m.asked).toHaveLength(2);
      expect(m.asked[1]).toMatch(/500 points were already moved/);
      expect(up.spent()).toBe(510);
    });

    it('reversals count and split the same way; a reversal of all always asks', async () => {
      const up = await upstream();
      up.seedRedemption('RDM-OLD', ASHA.id, 1000);
      const m = await server(
        liveEnv(up.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }),
      );
      const reverse = (customer: Record<string, string>, points?: number) =>
        call(m.client, 'reverse_redemption', {
          redemption_id: 'RDM-OLD',
          customer,
          ...(points === undefined ? {} : { points }),
        });
      const rs = [
        await reverse({ mobile: '+919000000001' }, 60),
        await reverse({ email: 'ASHA@example.com' }, 50),
        await reverse({ id: '0101' }, 40),
        await reverse({ external_id: 'EXT-101' }, 1),
        await reverse({ mobile: ASHA.mobile! }),
      ];
      expect(codes(rs)).toEqual([
        'ok',
        'confirmation_unavailable',
        'ok',
        'confirmation_unavailable',
        'confirmation_unavailable',
      ]);
      expect(errorOf(rs[4]).message).toMatch(/all remaining points/);
      expect(up.reversed()).toBe(100);
    });
  });

  describe('many calls at once', () => {
    it.each([
      [
        'the daily cap',
        { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '500' },
        500,
        40,
        25,
        'cap_per_customer_per_day',
      ],
      [
        'the confirmation budget',
        { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '300' },
        300,
        30,
        35,
        'confirmation_unavailable',
      ],
    ] as const)(
      'small concurrent calls under every identifier: %s holds',
      async (_, limit, most, n, points, code) => {
        const up = await upstream(15);
        const m = await server(liveEnv(up.url, limit));
        const rs = await burst([m], n, points, `cc-${most}`);
        expect(up.spent()).toBeLessThanOrEqual(most);
        expect(up.spent()).toBe(points * codes(rs).filter((c) => c === 'ok').length);
        expect(new Set(codes(rs).filter((c) => c !== 'ok'))).toEqual(new Set([code]));
      },
    );

    it('two server processes on one data directory share the cap, the budget and a human no', async () => {
      const up = await upstream(10);
      const env = liveEnv(up.url, { CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '300' });
      const [a, b] = [await server(env), await server(env)];
      await burst([a, b], 24, 25, 'two');
      expect(up.spent()).toBeLessThanOrEqual(300);

      const up2 = await upstream(10);
      const env2 = liveEnv(up2.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' });
      const [c, d] = [await server(env2), await server(env2)];
      await burst([c, d], 16, 15, 'twob');
      expect(up2.spent()).toBeLessThanOrEqual(100);

      const up3 = await upstream();
      const env3 = liveEnv(up3.url, { CAPILLARY_APPROVAL: 'elicit', CAPILLARY_CONFIRM_ABOVE_POINTS: '100' });
      const e = await server(env3, 'decline');
      const f = await server(env3);
      expect(errorOf(await redeem(e, { mobile: ASHA.mobile! }, 500, 'no-1'))?.code).toBe(
        'confirmation_declined',
      );
      const r = await redeem(f, { id: '101' }, 10, 'no-2');
      expect(errorOf(r)).toMatchObject({
        code: 'confirmation_unavailable',
        limit: { name: 'CAPILLARY_CONFIRM_COOLDOWN_SECONDS' },
      });
      expect(up3.spent()).toBe(0);
    });
  });

  describe("the customer's consent and messages", () => {
    it('skip_validation: true is refused before sending unless the operator allows it', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url));
      for (const tool of ['redeem_points', 'request_points_redemption']) {
        const r = await call(m.client, tool, {
          ...(tool === 'request_points_redemption' ? { entity: { till_id: '1' } } : {}),
          customer: { mobile: ASHA.mobile },
          points: 10,
          skip_validation: true,
        });
        expect(errorOf(r)).toMatchObject({ code: 'skip_validation_not_allowed', outcome: 'not_sent' });
      }
      expect(up.fake.requests).toHaveLength(0);
      const allowed = await server(liveEnv(up.url, { CAPILLARY_ALLOW_SKIP_VALIDATION: 'true' }));
      expect(
        (await redeem(allowed, { mobile: ASHA.mobile! }, 10, 'sv-1', { skip_validation: true })).isError,
      ).toBeFalsy();
      expect(up.committed.map((c) => c.skipValidation)).toEqual(['true']);
    });

    it('validation codes: at most the hourly rate per customer, whatever the identifier', async () => {
      const up = await upstream();
      const m = await server(liveEnv(up.url));
      const rs = [];
      for (const customer of ASHA_SPELLINGS)
        rs.push(await call(m.client, 'issue_redemption_code', { customer, points: 10 }));
      expect(up.codesFor(ASHA.id)).toBe(3);
      const refused = rs.map(errorOf).filter(Boolean);
      expect(refused).toHaveLength(ASHA_SPELLINGS.length - 3);
      expect(refused[0]).toMatchObject({
        code: 'code_rate_limited',
        outcome: 'not_sent',
        limit: { name: 'CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR', value: 3, left: 0 },
      });
      expect(Date.parse(refused[0].limit.frees_at)).toBeGreaterThan(Date.now() + 59 * 60_000);
      // Another customer has their own allowance.
      expect(
        (await call(m.client, 'issue_redemption_code', { customer: { mobile: RAVI.mobile }, points: 10 }))
          .isError,
      ).toBeFalsy();
      expect(up.codesFor(RAVI.id)).toBe(1);
    });
  });

  describe('least privilege', () => {
    const listed = async (env: Record<string, string>) => {
      const m = await server(env);
      const tools = (await m.client.listTools()).tools.map((t) => t.name);
      const prompts = (await m.client.listPrompts()).prompts.map((p) => p.name);
      return { tools, prompts, m };
    };

    it('excluding redeem_points excludes the other way to redeem, unless the allow-list names it', async () => {
      const base = liveEnv('http://127.0.0.1:9');
      const denied = await listed({ ...base, CAPILLARY_EXCLUDE_TOOLS: 'redeem_points' });
      expect(denied.tools).not.toContain('redeem_points');
      expect(denied.tools).not.toContain('request_points_redemption');
      expect(denied.tools).toContain('reverse_redemption');
      expect(denied.prompts).toEqual([]);
      expect(denied.m.stderr()).toMatch(/request_points_redemption excluded too/);
      // A tool this server does not list is an unknown tool: a protocol error (invalid params).
      await expect(
        call(denied.m.client, 'request_points_redemption', {
          entity: { till_id: '1' },
          customer: { mobile: ASHA.mobile },
          points: 10,
        }),
      ).rejects.toMatchObject({ code: -32602 });
      const named = await listed({
        ...base,
        CAPILLARY_EXCLUDE_TOOLS: 'redeem_points',
        CAPILLARY_TOOLS: 'request_points_redemption,get_points_balance',
      });
      expect(named.tools.sort()).toEqual(['get_points_balance', 'request_points_redemption']);
    });

    it('read-only mode hides the prompts that lead to writes', async () => {
      const base = liveEnv('http://127.0.0.1:9');
      expect((await listed(base)).prompts).toContain('redeem_points_for_customer');
      const ro = await listed({ ...base, CAPILLARY_READ_ONLY: 'true' });
      expect(ro.prompts).toEqual([]);
      await expect(
        ro.m.client.getPrompt({ name: 'redeem_points_for_customer', arguments: {} }),
      ).rejects.toThrow(/Unknown prompt/);
    });
  });

  describe('confirmation over HTTP', () => {
    const TOKEN = 'limits-http-token-8d2f61aa';
    const AUTH = { authorization: `Bearer ${TOKEN}` };

    it('with a confirmation threshold, the server refuses to serve HTTP without MCP_HTTP_TOKEN', async () => {
      const child = spawnCli(['--http', '--port', '0'], {
        CAPILLARY_APPROVAL: 'elicit',
        CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
        CAPILLARY_DATA_DIR: tempDir('data-'),
      });
      open.push({ close: child.stop });
      expect(await child.exited).toBe(1);
      expect(child.stderr()).toMatch(/CAPILLARY_CONFIRM_ABOVE_POINTS is set, so MCP_HTTP_TOKEN must be set/);
    });

    it('forged and replayed answers move nothing: no token, no call; an answer counts once, for its own question', async () => {
      const up = await upstream();
      const srv = await spawnHttp(
        liveEnv(up.url, {
          CAPILLARY_APPROVAL: 'elicit',
          CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
          MCP_HTTP_TOKEN: TOKEN,
        }),
      );
      open.push({ close: srv.stop });
      // A script forging the self-describing session id, without the token, is not even heard.
      const forgedSession = `mcp1.${'0'.repeat(32)}.${Buffer.from(JSON.stringify({ elicitation: {} })).toString('base64url')}`;
      const forged = await raw(srv.url, {
        method: 'POST',
        headers: { ...MCP_HEADERS, 'mcp-session-id': forgedSession },
        body: rpc('tools/call', {
          name: 'redeem_points',
          arguments: { customer: { mobile: ASHA.mobile }, points: 900 },
        }),
      });
      expect(forged.status).toBe(401);

      // An authenticated caller: the question's answer is taken once; a replay of it is refused.
      const init = await raw(srv.url, {
        method: 'POST',
        headers: { ...MCP_HEADERS, ...AUTH },
        body: rpc('initialize', {
          protocolVersion: '2025-06-18',
          capabilities: { elicitation: {} },
          clientInfo: { name: 'script', version: '1' },
        }),
      });
      const session = init.headers['mcp-session-id'] as string;
      const headers = { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session };
      const first = sseCall(srv.url, headers, { customer: { mobile: ASHA.mobile }, points: 500 }, 1);
      const q1 = await first.question;
      const yes = JSON.stringify({
        jsonrpc: '2.0',
        id: q1,
        result: { action: 'accept', content: { confirm: true } },
      });
      expect((await raw(srv.url, { method: 'POST', headers, body: yes })).status).toBe(202);
      expect(await first.done).toMatch(/"points_redeemed":500/);
      expect((await raw(srv.url, { method: 'POST', headers, body: yes })).status).toBe(400);
      // A second operation gets its own question; the old answer replayed against it is refused.
      const second = sseCall(srv.url, headers, { customer: { id: '0101' }, points: 200 }, 2);
      const q2 = await second.question;
      expect(q2).not.toBe(q1);
      expect((await raw(srv.url, { method: 'POST', headers, body: yes })).status).toBe(400);
      const no = JSON.stringify({ jsonrpc: '2.0', id: q2, result: { action: 'decline' } });
      expect((await raw(srv.url, { method: 'POST', headers, body: no })).status).toBe(202);
      expect(await second.done).toMatch(/confirmation_declined/);
      // What moved: the one operation a human said yes to.
      expect(up.committed.map((c) => c.points)).toEqual([500]);
      // And a real client with the token still works for reading.
      const c = await connectHttp(srv.url, { headers: AUTH });
      open.push(c);
      expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    });
  });

  /** A redeem_points call over raw HTTP, reading its SSE stream: the question's id, then the whole stream. */
  function sseCall(url: string, headers: Record<string, string>, args: Record<string, unknown>, id: number) {
    const u = new URL(url);
    let stream = '';
    let onQuestion!: (id: string) => void;
    const question = new Promise<string>((r) => {
      onQuestion = r;
    });
    const done = new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (d) => {
            stream += d;
            const line = stream
              .split('\n')
              .find((l) => l.startsWith('data: ') && l.includes('elicitation/create'));
            if (line) onQuestion(JSON.parse(line.slice(6)).id);
          });
          res.on('end', () => resolve(stream));
        },
      );
      req.on('error', reject);
      req.end(rpc('tools/call', { name: 'redeem_points', arguments: args }, id));
    });
    return { question, done };
  }
});
