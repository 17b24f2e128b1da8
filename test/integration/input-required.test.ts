import { createHash } from 'node:crypto';
import { createRequestStateCodec } from '@modelcontextprotocol/server';
import { beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { type HttpChild, spawnHttp } from '../fixtures/cli.js';
import { redemption as args, MCP_HEADERS, raw } from '../fixtures/clients.js';
import { connectHttpV2, connectStdioV2 } from '../fixtures/clients-v2.js';
import { dedupingRedeem, FakeCapillary, REDEEM } from '../fixtures/fake-capillary.js';
import { closeAfterEach, sleep } from '../fixtures/lifecycle.js';
import { createDatabase, pgMissing, sharedCluster } from '../fixtures/postgres.js';

/**
 * A human's yes on 2026-07-28 (input_required): the money call ends with the question and a
 * signed requestState; the client's retry brings the answer. Through the real v2 client on stdio
 * and HTTP, then raw HTTP for what a client would never send: a forged, tampered, replayed,
 * expired, cross-operation or cross-caller requestState. Money is judged by what the fake
 * upstream was asked to redeem.
 */

const TOKEN = 'input-required-test-token-0123456789';
const KEY = 'a-state-key-shared-by-replicas-0123456789abcdef';
const MODERN = '2026-07-28';
const CONFIRM = { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' };

const track = closeAfterEach();
const fake = async () => track(await new FakeCapillary().on('POST', REDEEM, dedupingRedeem().route).start());
const serve = async (env: Record<string, string>) => {
  const srv = await spawnHttp(env);
  track({ close: () => srv.stop() });
  return srv;
};
const redeems = (f: FakeCapillary) => f.count('POST', REDEEM);
const struct = (r: unknown) => (r as { structuredContent: any }).structuredContent;

const answering = (answer: 'accept' | 'decline', asked: string[]) => (p: { message: string }) => {
  asked.push(p.message);
  return answer === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: 'decline' };
};

describe('the v2 client pinned to 2026-07-28 is asked through input_required', () => {
  it.each(['accept', 'decline'] as const)('stdio, %s', async (answer) => {
    const f = await fake();
    const asked: string[] = [];
    const m = track(
      await connectStdioV2(liveEnv(f.url, CONFIRM), {
        mode: 'modern',
        capabilities: { elicitation: { form: {} } },
        elicit: answering(answer, asked),
      }),
    );
    const r = struct(await m.client.callTool({ name: 'redeem_points', arguments: args(500) }));
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(/Redeem 500 points from customer mobile 919000000001/);
    if (answer === 'accept') {
      expect(r.redemption_id).toBeDefined();
      expect(redeems(f)).toBe(1);
      // The repeat is replayed: nobody is asked, nothing is sent.
      const again = struct(await m.client.callTool({ name: 'redeem_points', arguments: args(500) }));
      expect(again.replayed).toBe(true);
      expect(asked).toHaveLength(1);
    } else {
      expect(r.error).toMatchObject({ code: 'confirmation_declined', outcome: 'not_sent' });
    }
    expect(redeems(f)).toBe(answer === 'accept' ? 1 : 0);
  });

  it('HTTP, accept; a client that declares no elicitation is sent to the approval page, nothing sent', async () => {
    const f = await fake();
    const srv = await serve(liveEnv(f.url, { ...CONFIRM, MCP_HTTP_TOKEN: TOKEN }));
    const headers = { authorization: `Bearer ${TOKEN}` };
    const asked: string[] = [];
    const c = await connectHttpV2(srv.url, {
      mode: 'modern',
      capabilities: { elicitation: {} },
      elicit: answering('accept', asked),
      headers,
    });
    track({ close: () => c.close() });
    const r = struct(await c.callTool({ name: 'redeem_points', arguments: args(500) }));
    expect(r.redemption_id).toBeDefined();
    expect(asked).toHaveLength(1);
    expect(redeems(f)).toBe(1);
    const mute = await connectHttpV2(srv.url, { mode: 'modern', headers });
    track({ close: () => mute.close() });
    const refused = struct(await mute.callTool({ name: 'redeem_points', arguments: args(600) }));
    expect(refused.error).toMatchObject({ code: 'approval_pending', outcome: 'not_sent' });
    expect(redeems(f)).toBe(1);
  });
});

/** Raw 2026-07-28 tools/call requests over HTTP, with full control of the requestState. */
function rawClient(srv: HttpChild, name = 'raw') {
  let id = 0;
  return async (
    points: number,
    round: { requestState?: string; answer?: 'accept' | 'decline' } = {},
    opts: { token?: string; name?: string } = {},
  ) => {
    const params: Record<string, unknown> = {
      name: 'redeem_points',
      arguments: args(points),
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN,
        'io.modelcontextprotocol/clientInfo': { name: opts.name ?? name, version: '1' },
        'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
      },
    };
    if (round.requestState !== undefined) params.requestState = round.requestState;
    if (round.answer)
      params.inputResponses = {
        confirm:
          round.answer === 'accept'
            ? { action: 'accept', content: { confirm: true } }
            : { action: 'decline' },
      };
    const r = await raw(srv.url, {
      method: 'POST',
      headers: {
        ...MCP_HEADERS,
        host: `127.0.0.1:${srv.port}`,
        authorization: `Bearer ${opts.token ?? TOKEN}`,
        'mcp-protocol-version': MODERN,
        'mcp-method': 'tools/call',
        'mcp-name': 'redeem_points',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params }),
    });
    expect(r.status).toBe(200);
    return JSON.parse(r.body) as { result?: any; error?: { code: number; message: string } };
  };
}

/** The payload and expiry of a requestState (signed, not encrypted: anyone can read them). */
function readState(s: string): { p: { id: string; op: string }; exp: number; b?: string } {
  return JSON.parse(Buffer.from(s.split('.')[1], 'base64url').toString('utf8'));
}

describe('a requestState the server did not issue for this call never moves points (raw HTTP)', () => {
  const start = async (extra: Record<string, string> = {}) => {
    const f = await fake();
    const srv = await serve(
      liveEnv(f.url, { ...CONFIRM, MCP_HTTP_TOKEN: TOKEN, CAPILLARY_STATE_KEY: KEY, ...extra }),
    );
    return { f, srv, post: rawClient(srv) };
  };
  const question = async (post: ReturnType<typeof rawClient>, points = 500) => {
    const r = await post(points);
    expect(r.result).toMatchObject({ resultType: 'input_required' });
    expect(r.result.inputRequests.confirm.method).toBe('elicitation/create');
    expect(r.result.inputRequests.confirm.params.message).toMatch(new RegExp(`Redeem ${points} points`));
    expect(typeof r.result.requestState).toBe('string');
    return r.result.requestState as string;
  };
  const invalid = (r: { error?: { code: number; message: string } }) =>
    expect(r.error).toMatchObject({ code: -32602, message: 'Invalid or expired requestState' });

  it('the genuine round trip spends once; the answer without the state is only a new question', async () => {
    const { f, post } = await start();
    const state = await question(post);
    // inputResponses alone (no state) are a first round again: asked, nothing sent.
    expect((await post(500, { answer: 'accept' })).result.resultType).toBe('input_required');
    expect(redeems(f)).toBe(0);
    const done = await post(500, { requestState: state, answer: 'accept' });
    expect(done.result.structuredContent.redemption_id).toBeDefined();
    expect(redeems(f)).toBe(1);
  });

  it('forged and tampered states are invalid params; nothing is sent', async () => {
    const { f, post } = await start();
    const state = await question(post);
    const [v, body, mac] = state.split('.');
    const forgedBody = Buffer.from(
      JSON.stringify({ ...readState(state), p: { ...readState(state).p, id: 'q-forged' } }),
    ).toString('base64url');
    for (const bad of [
      'forged',
      `v1.${Buffer.from('{"p":{"id":"q-1","op":"x"},"exp":9999999999}').toString('base64url')}.AAAA`,
      `${v}.${forgedBody}.${mac}`,
      `${v}.${body}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`,
    ])
      invalid(await post(500, { requestState: bad, answer: 'accept' }));
    expect(redeems(f)).toBe(0);
  });

  it('a state for another operation is refused by the money path; nothing is sent', async () => {
    const { f, post } = await start();
    const state = await question(post, 500);
    const r = await post(900, { requestState: state, answer: 'accept' });
    expect(r.result.structuredContent.error).toMatchObject({
      code: 'confirmation_failed',
      outcome: 'not_sent',
    });
    expect(redeems(f)).toBe(0);
  });

  it("another caller's state is invalid params (bound to the caller); nothing is sent", async () => {
    const { f, srv, post } = await start();
    const state = await question(post);
    invalid(await rawClient(srv, 'someone-else')(500, { requestState: state, answer: 'accept' }));
    expect(redeems(f)).toBe(0);
  });

  it.each([
    ['3600', 'remembered for an hour'],
    ['0', 'not remembered at all (cooldown 0)'],
  ])('a replayed state is refused: a "no" (%s s, %s) cannot be sent again as a yes', async (cooldown) => {
    const { f, post } = await start({ CAPILLARY_CONFIRM_COOLDOWN_SECONDS: cooldown });
    const state = await question(post);
    const no = await post(500, { requestState: state, answer: 'decline' });
    expect(no.result.structuredContent.error.code).toBe('confirmation_declined');
    const replayed = await post(500, { requestState: state, answer: 'accept' });
    expect(replayed.result.structuredContent?.error, JSON.stringify(replayed)).toMatchObject({
      code: 'confirmation_expired',
      outcome: 'not_sent',
    });
    expect(redeems(f)).toBe(0);
  });

  it('an expired state is invalid params; nothing is sent', async () => {
    const { f, post } = await start();
    const state = await question(post);
    // The same key and caller binding, a one-second life: a state the server could have issued.
    const caller = `bearer-sha256:${createHash('sha256').update(`Bearer ${TOKEN}`).digest('base64url')}\0raw`;
    const codec = createRequestStateCodec({
      key: KEY,
      ttlSeconds: 1,
      bind: () => `capillary-confirm\0${caller}`,
    });
    const short = await codec.mint(readState(state).p, {} as never);
    await sleep(2100);
    invalid(await post(500, { requestState: short, answer: 'accept' }));
    expect(redeems(f)).toBe(0);
  });

  it('a replica with the same key continues the call; one with another key refuses it', async () => {
    const { f, srv, post } = await start();
    const state = await question(post);
    const other = await serve(
      liveEnv(f.url, { ...CONFIRM, MCP_HTTP_TOKEN: TOKEN, CAPILLARY_STATE_KEY: `${KEY}-other` }),
    );
    invalid(await rawClient(other)(500, { requestState: state, answer: 'accept' }));
    expect(redeems(f)).toBe(0);
    const twin = await serve(liveEnv(f.url, { ...CONFIRM, MCP_HTTP_TOKEN: TOKEN, CAPILLARY_STATE_KEY: KEY }));
    expect(twin.url).not.toBe(srv.url);
    const done = await rawClient(twin)(500, { requestState: state, answer: 'accept' });
    expect(done.result.structuredContent.redemption_id).toBeDefined();
    expect(redeems(f)).toBe(1);
  });
});

describe.skipIf(pgMissing)("replicas on one PostgreSQL ledger continue each other's questions, once", () => {
  let ledgerUrl: string;
  beforeAll(async () => {
    ledgerUrl = await createDatabase(await sharedCluster(), 'mrtr');
  });
  const replicas = async (f: FakeCapillary) => {
    const env = {
      ...CONFIRM,
      MCP_HTTP_TOKEN: TOKEN,
      CAPILLARY_STATE_KEY: KEY,
      CAPILLARY_LEDGER_URL: ledgerUrl,
    };
    return Promise.all([serve(liveEnv(f.url, env)), serve(liveEnv(f.url, env))]);
  };

  it('asked on one replica, answered on the other: spent once; the state again on the first is a replay', async () => {
    const f = await fake();
    const [a, b] = await replicas(f);
    const asked = await rawClient(a)(700);
    const state = asked.result.requestState as string;
    const done = await rawClient(b)(700, { requestState: state, answer: 'accept' });
    expect(done.result.structuredContent.redemption_id).toBeDefined();
    const again = await rawClient(a)(700, { requestState: state, answer: 'accept' });
    expect(again.result.structuredContent.replayed).toBe(true);
    expect(redeems(f)).toBe(1);
  });

  it('a "no" on one replica cannot be sent again as a yes to the other', async () => {
    const f = await fake();
    const [a, b] = await replicas(f);
    const state = (await rawClient(a)(800)).result.requestState as string;
    const no = await rawClient(a)(800, { requestState: state, answer: 'decline' });
    expect(no.result.structuredContent.error.code).toBe('confirmation_declined');
    const replayed = await rawClient(b)(800, { requestState: state, answer: 'accept' });
    expect(replayed.result.structuredContent.error).toMatchObject({
      code: 'confirmation_expired',
      outcome: 'not_sent',
    });
    expect(redeems(f)).toBe(0);
  });
});
