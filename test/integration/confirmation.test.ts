import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { type HttpChild, spawnHttp, tempDir } from '../fixtures/cli.js';
import {
  redemption as args,
  call,
  connectHttp,
  initEliciting,
  MCP_HEADERS,
  raw,
  rpc,
} from '../fixtures/clients.js';
import { dedupingRedeem, REDEEM } from '../fixtures/fake-capillary.js';
import { perTest, sleep } from '../fixtures/lifecycle.js';

/**
 * Human confirmation through elicitation, above CAPILLARY_CONFIRM_ABOVE_POINTS: over stdio, and
 * inside a tool call over stateless Streamable HTTP.
 */

const { server, fakeWith } = perTest();

describe('human confirmation through elicitation', () => {
  const withAnswer = async (
    answer: 'accept' | 'decline' | 'cancel' | 'accept-unticked',
    env: Record<string, string>,
  ) => {
    const m = await server(env, { capabilities: { elicitation: {} } });
    const asked: string[] = [];
    m.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push((req.params as any).message);
      if (answer === 'accept') return { action: 'accept', content: { confirm: true } };
      if (answer === 'accept-unticked') return { action: 'accept', content: { confirm: false } };
      return { action: answer };
    });
    return { m, asked };
  };

  it('accept: above the threshold the human is asked, with customer and points, and the call proceeds', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const { m, asked } = await withAnswer(
      'accept',
      liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }),
    );
    expect((await call(m.client, 'redeem_points', args(50))).isError).toBeFalsy();
    expect(asked.length).toBe(0);
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.isError).toBeFalsy();
    expect(asked[0]).toMatch(/Redeem 500 points from customer mobile 919000000001/);
    expect(fake.count('POST', REDEEM)).toBe(2);
  });

  it.each(['decline', 'cancel', 'accept-unticked'] as const)('%s: nothing is sent', async (answer) => {
    const fake = await fakeWith(dedupingRedeem().route);
    const { m } = await withAnswer(answer, liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100' }));
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error.code).toMatch(/^confirmation_(declined|cancelled)$/);
    expect(r.structuredContent.error.outcome).toBe('not_sent');
    expect(fake.requests.length).toBe(0);
  });

  it('CAPILLARY_APPROVAL=elicit: a client that cannot elicit gets a clear refusal; there is no confirm argument to forge', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(
      liveEnv(fake.url, { CAPILLARY_CONFIRM_ABOVE_POINTS: '100', CAPILLARY_APPROVAL: 'elicit' }),
    );
    const r = await call(m.client, 'redeem_points', args(500));
    expect(r.structuredContent.error).toMatchObject({
      code: 'confirmation_unavailable',
      source: 'safety',
      outcome: 'not_sent',
    });
    const forged = await call(m.client, 'redeem_points', args(500, { confirm: true }));
    expect(forged.structuredContent.error.source).toBe('validation');
    expect(fake.requests.length).toBe(0);
  });
});

const ELICIT = { capabilities: { elicitation: {} } };
// A confirmation threshold over HTTP needs an authenticated caller.
const TOKEN = 'elicitation-test-token-5a1f3c9e';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** One sandbox customer per test: a confirmation budget and a "no" are remembered per customer. */
const mobile = (n: number) => `9190000002${String(n).padStart(2, '0')}`;
function seedFile(): string {
  const customers = Array.from({ length: 9 }, (_, i) => ({
    id: 201 + i,
    mobile: mobile(i + 1),
    points: 5000,
  }));
  customers.push({ id: 500, mobile: '919000000500', points: 10000, fault: { kind: 'error_500' } } as any);
  const path = join(tempDir('seed-'), 'seed.json');
  writeFileSync(path, JSON.stringify({ customers }));
  return path;
}

/** A client that declares elicitation and answers with `answer` (after `gate`, if given). */
async function eliciting(
  url: string,
  answer: ElicitResult,
  seen: unknown[] = [],
  gate?: Promise<void>,
): Promise<Client> {
  const c = await connectHttp(url, { ...ELICIT, headers: AUTH });
  c.setRequestHandler(ElicitRequestSchema, async (req, extra) => {
    seen.push({ id: extra.requestId, message: req.params.message });
    await gate;
    return answer;
  });
  return c;
}

describe('elicitation inside a tool call over stateless Streamable HTTP', () => {
  let srv: HttpChild;
  let reader: Client;
  const balance = async (mobile: string) =>
    (await call(reader, 'get_points_balance', { identifier_name: 'mobile', identifier_value: mobile }))
      .structuredContent.balance as number;

  beforeAll(async () => {
    srv = await spawnHttp({
      // Elicitation only: a client without it is refused (the approval page: approvals.test.ts).
      CAPILLARY_APPROVAL: 'elicit',
      CAPILLARY_CONFIRM_ABOVE_POINTS: '100',
      MCP_HTTP_TOKEN: TOKEN,
      CAPILLARY_SANDBOX_SEED: seedFile(),
    });
    reader = await connectHttp(srv.url, { headers: AUTH });
  });
  afterAll(async () => {
    await reader?.close();
    await srv?.stop();
  });

  it('a client that accepts gets the redemption through (balance down by 200)', async () => {
    const seen: any[] = [];
    const c = await eliciting(srv.url, { action: 'accept', content: { confirm: true } }, seen);
    try {
      const before = await balance(mobile(1));
      const r = await call(c, 'redeem_points', { customer: { mobile: mobile(1) }, points: 200 });
      expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ points_redeemed: 200, balance: before - 200 });
      expect(seen).toHaveLength(1);
      expect(seen[0].message).toMatch(/200 points/);
      expect(String(seen[0].id)).toMatch(/^srv-/);
      expect(await balance(mobile(1))).toBe(before - 200);
    } finally {
      await c.close();
    }
  });

  it('a client that declines gets confirmation_declined and nothing moves', async () => {
    const c = await eliciting(srv.url, { action: 'decline' });
    try {
      const before = await balance(mobile(2));
      const r = await call(c, 'redeem_points', { customer: { mobile: mobile(2) }, points: 300 });
      expect(r.isError).toBe(true);
      expect(r.structuredContent.error).toMatchObject({ code: 'confirmation_declined', outcome: 'not_sent' });
      expect(await balance(mobile(2))).toBe(before);
    } finally {
      await c.close();
    }
  });

  it('at or below the threshold nobody is asked', async () => {
    const seen: unknown[] = [];
    const c = await eliciting(srv.url, { action: 'decline' }, seen);
    try {
      const r = await call(c, 'redeem_points', {
        customer: { mobile: mobile(3) },
        points: 100,
        notes: 'small',
      });
      expect(r.isError).toBeFalsy();
      expect(seen).toHaveLength(0);
    } finally {
      await c.close();
    }
  });

  it('two concurrent elicitations are routed to the right calls (no id collisions)', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const seenA: any[] = [];
    const seenB: any[] = [];
    const a = await eliciting(srv.url, { action: 'accept', content: { confirm: true } }, seenA, gate);
    const b = await eliciting(srv.url, { action: 'decline' }, seenB, gate);
    try {
      const beforeA = await balance('919000000500');
      const beforeB = await balance(mobile(4));
      const pa = call(a, 'redeem_points', { customer: { mobile: '919000000500' }, points: 150 });
      const pb = call(b, 'redeem_points', { customer: { mobile: mobile(4) }, points: 160 });
      // Both questions are out before either is answered.
      for (let i = 0; i < 200 && (seenA.length < 1 || seenB.length < 1); i++) await sleep(10);
      expect(seenA).toHaveLength(1);
      expect(seenB).toHaveLength(1);
      expect(seenA[0].id).not.toBe(seenB[0].id);
      open();
      const [ra, rb] = await Promise.all([pa, pb]);
      // 919000000500 is the sandbox's error_500 customer: accepted, sent, and failed upstream.
      expect(ra.structuredContent.error?.code).not.toBe('confirmation_declined');
      expect(ra.structuredContent.error?.code).not.toBe('confirmation_unavailable');
      expect(rb.structuredContent.error).toMatchObject({ code: 'confirmation_declined' });
      expect(await balance(mobile(4))).toBe(beforeB);
      expect(await balance('919000000500')).toBe(beforeA);
    } finally {
      open();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('two concurrent accepted elicitations both go through', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const seen: any[] = [];
    const a = await eliciting(srv.url, { action: 'accept', content: { confirm: true } }, seen, gate);
    const b = await eliciting(srv.url, { action: 'accept', content: { confirm: true } }, seen, gate);
    try {
      const before = await balance(mobile(5));
      const pa = call(a, 'redeem_points', { customer: { mobile: mobile(5) }, points: 101, notes: 'a' });
      const pb = call(b, 'redeem_points', { customer: { mobile: mobile(5) }, points: 102, notes: 'b' });
      for (let i = 0; i < 200 && seen.length < 2; i++) await sleep(10);
      expect(seen).toHaveLength(2);
      open();
      const [ra, rb] = await Promise.all([pa, pb]);
      expect(ra.structuredContent.points_redeemed).toBe(101);
      expect(rb.structuredContent.points_redeemed).toBe(102);
      expect(await balance(mobile(5))).toBe(before - 203);
    } finally {
      open();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a client that did not declare elicitation gets confirmation_unavailable', async () => {
    const r = await call(reader, 'redeem_points', { customer: { mobile: mobile(6) }, points: 500 });
    expect(r.structuredContent.error).toMatchObject({
      code: 'confirmation_unavailable',
      outcome: 'not_sent',
    });
  });

  it('a client that leaves while asked ends the call; its late answer is refused', async () => {
    const init = await initEliciting(srv.url, 'raw', AUTH);
    const session = init.headers['mcp-session-id'] as string;
    expect(session).toMatch(/^mcp1\./);
    const before = await balance(mobile(7));
    const u = new URL(srv.url);
    // Read the SSE stream until the question arrives, then hang up.
    const askedId = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent: false,
          headers: {
            ...MCP_HEADERS,
            ...AUTH,
            'mcp-session-id': session,
            'mcp-protocol-version': '2025-06-18',
          },
        },
        (res) => {
          let buf = '';
          res.on('data', (d) => {
            buf += d;
            const line = buf
              .split('\n')
              .find((l) => l.startsWith('data: ') && l.includes('elicitation/create'));
            if (line) {
              resolve(JSON.parse(line.slice(6)).id);
              req.destroy();
            }
          });
        },
      );
      req.on('error', () => {});
      req.end(
        rpc(
          'tools/call',
          { name: 'redeem_points', arguments: { customer: { mobile: mobile(7) }, points: 999 } },
          7,
        ),
      );
      setTimeout(() => reject(new Error('no elicitation arrived')), 5000);
    });
    expect(askedId).toMatch(/^srv-/);
    await sleep(100);
    const late = await raw(srv.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: askedId,
        result: { action: 'accept', content: { confirm: true } },
      }),
    });
    expect(late.status).toBe(400);
    expect(await balance(mobile(7))).toBe(before);
  });

  it('an answer from another session is refused', async () => {
    const a = await initEliciting(srv.url, 'r', AUTH);
    const session = a.headers['mcp-session-id'] as string;
    const u = new URL(srv.url);
    let stream = '';
    const done = new Promise<void>((resolve) => {
      const req = httpRequest(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent: false,
          headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session },
        },
        (res) => {
          res.on('data', (d) => {
            stream += d;
          });
          res.on('end', () => resolve());
        },
      );
      req.end(
        rpc(
          'tools/call',
          { name: 'redeem_points', arguments: { customer: { mobile: mobile(8) }, points: 400 } },
          9,
        ),
      );
    });
    for (let i = 0; i < 200 && !stream.includes('elicitation/create'); i++) await sleep(10);
    const id = JSON.parse(
      stream
        .split('\n')
        .find((l) => l.includes('elicitation/create'))!
        .slice(6),
    ).id;
    const answer = JSON.stringify({ jsonrpc: '2.0', id, result: { action: 'decline' } });
    const other = await raw(srv.url, { method: 'POST', headers: { ...MCP_HEADERS, ...AUTH }, body: answer });
    expect(other.status).toBe(400);
    const right = await raw(srv.url, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...AUTH, 'mcp-session-id': session },
      body: answer,
    });
    expect(right.status).toBe(202);
    await done;
    expect(stream).toContain('confirmation_declined');
  });
});
