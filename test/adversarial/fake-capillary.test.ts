import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_KINDS, type FakeCapillary, refuses } from './fake-capillary.js';
import { CREDS, startFake } from './harness.js';

/**
 * The fake itself: the suite's verdicts rest on its books, so its idempotency, its counts and
 * each fault's wire are checked here, directly over HTTP (no server involved).
 */

let fake: FakeCapillary;
beforeAll(async () => {
  fake = await startFake();
});
afterAll(async () => {
  await fake.close();
});

const auth = `Basic ${Buffer.from(`${CREDS.username}:${createHash('md5').update(CREDS.password).digest('hex')}`).toString('base64')}`;
const workflowHeaders = { 'x-cap-api-auth-org-id': CREDS.orgId, 'x-cap-ui-auth-token': CREDS.uiToken };

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json, headers: res.headers };
}

async function get(path: string, query: Record<string, string>) {
  const res = await fetch(`${fake.url}${path}?${new URLSearchParams(query)}`, {
    headers: { authorization: auth },
  });
  return { status: res.status, json: (await res.json()) as any };
}

const redeemBody = (customer: Record<string, string>, points: string, key?: string) => ({
  root: {
    redeem: [{ points_redeemed: points, customer, ...(key ? { external_reference_number: key } : {}) }],
  },
});

describe('the fake Capillary', () => {
  it('starts with a few customers, each found by every identifier', () => {
    for (const id of [5001, 5002, 5003]) {
      const c = fake.customer(id);
      expect(fake.resolve('mobile', `+${c.mobile}`)?.id).toBe(id);
      expect(fake.resolve('email', c.email.toUpperCase())?.id).toBe(id);
      expect(fake.resolve('externalId', c.externalId)?.id).toBe(id);
      expect(fake.resolve('id', `0${id}`)?.id).toBe(id);
    }
  });

  it('applies a redemption once per external_reference_number and replays the original result forever', async () => {
    const c = fake.addCustomer(1000);
    const a = await post('/v1.1/points/redeem?format=json', redeemBody({ mobile: c.mobile }, '100', 'k-1'));
    expect(a.status).toBe(200);
    expect(a.json.response.responses.points.item_status.code).toBe(800);
    expect(a.json.response.responses.points.user_id).toBe(String(c.id));
    // The same key, even with another customer and other points: the original answer, nothing applied.
    const other = fake.addCustomer(1000);
    const b = await post('/v1.1/points/redeem?format=json', redeemBody({ id: String(other.id) }, '7', 'k-1'));
    expect(b.text).toBe(a.text);
    // No key: every call spends.
    await post('/v1.1/points/redeem?format=json', redeemBody({ email: c.email.toUpperCase() }, '100'));
    await post('/v1.1/points/redeem?format=json', redeemBody({ mobile: `+${c.mobile}` }, '100'));
    expect(fake.commitsFor(c.id).map((x) => x.points)).toEqual([100, 100, 100]);
    expect(fake.commitsFor(other.id)).toEqual([]);
    expect(fake.balance(c.id)).toBe(700);
    expect(fake.pointsMoved(c.id)).toBe(300);
    expect(fake.attemptsFor(c.id).map((x) => x.applied)).toEqual(['new', 'new', 'new']);
    expect(fake.books(c.id)).toEqual({ spends: 3, reversals: 0, requests: 0, pointsMoved: 300 });
    expect(fake.commitsForKey('k-1').map((x) => x.customerId)).toEqual([c.id]);
    expect(fake.attemptsFor(other.id).map((x) => x.applied)).toEqual(['replay']);
  });

  it('refuses without applying: 813 when the balance is short, 816 for an unknown customer, and the key keeps its refusal', async () => {
    const c = fake.addCustomer(50);
    const short = await post(
      '/v1.1/points/redeem?format=json',
      redeemBody({ mobile: c.mobile }, '100', 'k-short'),
    );
    expect(short.json.response.status.success).toBe('false');
    expect(short.json.response.responses.points.item_status.code).toBe(813);
    const again = await post(
      '/v1.1/points/redeem?format=json',
      redeemBody({ mobile: c.mobile }, '10', 'k-short'),
    );
    expect(again.text).toBe(short.text);
    const nobody = await post('/v1.1/points/redeem?format=json', redeemBody({ mobile: '919999999999' }, '1'));
    expect(nobody.json.response.responses.points.item_status.code).toBe(816);
    // Identifiers of two different customers in one call name nobody.
    const other = fake.addCustomer();
    const mixed = await post(
      '/v1.1/points/redeem?format=json',
      redeemBody({ mobile: c.mobile, email: other.email }, '1'),
    );
    expect(mixed.json.response.responses.points.item_status.code).toBe(816);
    expect(fake.commitsFor(c.id)).toEqual([]);
    expect(fake.balance(c.id)).toBe(50);
  });

  it('reverses without a key: each accepted reversal moves points again, up to the redemption', async () => {
    const c = fake.addCustomer(1000);
    const r = fake.seedRedemption(c.id, 100);
    expect(fake.balance(c.id)).toBe(900);
    const body = {
      redemptionId: r,
      pointsToBeReversed: '30',
      identifier: { type: 'mobile', value: c.mobile },
    };
    const a = await post('/v2/points/reverse', body);
    const b = await post('/v2/points/reverse', body);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.json.pointsReversed).toBe(30);
    expect(fake.commitsFor(c.id, 'reverse').length).toBe(2);
    expect(fake.balance(c.id)).toBe(960);
    expect(fake.books(c.id)).toEqual({ spends: 0, reversals: 2, requests: 0, pointsMoved: -60 });
    expect(fake.reversible(r)).toBe(40);
    const over = await post('/v2/points/reverse', { ...body, pointsToBeReversed: '50' });
    expect(over.json.errors[0].code).toBe(3801);
    const wrong = await post('/v2/points/reverse', {
      ...body,
      identifier: { type: 'mobile', value: '919999999999' },
    });
    expect(wrong.json.errors[0].code).toBe(904);
    expect(fake.commitsFor(c.id, 'reverse').length).toBe(2);
  });

  it('files a maker-checker request on every POST (no upstream key) and needs the workflow headers', async () => {
    const c = fake.addCustomer();
    const body = {
      entityInfo: { tillId: 't' },
      payload: {
        'IntouchAPITask-Payload': {
          path: '/v1.1/points/redeem',
          method: 'POST',
          queryParams: { program_id: '2' },
          body: redeemBody({ mobile: c.mobile }, '40', 'k-wf'),
        },
      },
    };
    const path = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';
    const a = await post(path, body, workflowHeaders);
    const b = await post(path, body, workflowHeaders);
    expect(a.json.data.state).toBe('AdminTask');
    expect(a.json.data.requestId).not.toBe(b.json.data.requestId);
    const filed = fake.commitsFor(c.id, 'workflow');
    expect(filed.map((f) => [f.points, f.programId, f.key])).toEqual([
      [40, '2', 'k-wf'],
      [40, '2', 'k-wf'],
    ]);
    const noHeaders = await post(path, body);
    expect(noHeaders.status).toBe(401);
    expect(fake.commitsFor(c.id, 'workflow').length).toBe(2);
    // Nothing is deducted by filing.
    expect(fake.books(c.id)).toEqual({ spends: 0, reversals: 0, requests: 2, pointsMoved: 0 });
  });

  it('resolves every identifier of a customer, as Capillary compares them, in both lookups', async () => {
    const c = fake.addCustomer(321);
    for (const [name, value] of [
      ['mobile', c.mobile],
      ['mobile', `+${c.mobile}`],
      ['email', c.email.toLowerCase()],
      ['externalId', c.externalId],
      ['id', `00${c.id}`],
    ]) {
      const d = await get('/v2/customers/lookup/customerDetails', {
        source: 'INSTORE',
        identifierName: name,
        identifierValue: value,
      });
      expect([name, d.status, d.json.id]).toEqual([name, 200, c.id]);
      const b = await get('/v2/customers/lookup/points/balance', {
        source: 'INSTORE',
        identifierName: name,
        identifierValue: value,
      });
      expect([name, b.json.data.customerId, b.json.data.loyaltyPoints]).toEqual([name, c.id, 321]);
    }
    const missing = await get('/v2/customers/lookup/customerDetails', {
      source: 'INSTORE',
      identifierName: 'mobile',
      identifierValue: '910000000000',
    });
    expect(missing.json.errors[0].code).toBe(8015);
  });

  it('answers each scripted fault as specified, after applying the request (refusals apply nothing)', async () => {
    for (const kind of FAULT_KINDS) {
      const c = fake.addCustomer();
      fake.script(c.id, 'redeem', [kind]);
      const before = fake.commits.length;
      const res = await fetch(`${fake.url}/v1.1/points/redeem?format=json`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(redeemBody({ mobile: c.mobile }, '10', `k-${kind}`)),
        signal: AbortSignal.timeout(500),
      })
        .then(async (r) => ({
          status: r.status,
          text: await r.text(),
          retryAfter: r.headers.get('retry-after'),
        }))
        .catch((e) => ({ error: String(e?.name ?? e) }));
      const applied = fake.commits.length - before;
      expect([kind, applied]).toEqual([kind, refuses(kind) ? 0 : 1]);
      const got = res as any;
      const status = kind.match(/^\d{3}/)?.[0];
      if (status) expect([kind, got.status]).toEqual([kind, Number(status)]);
      if (kind.endsWith('retry-after')) expect(got.retryAfter).toBe('1');
      if (kind.endsWith('-html') || kind.includes('gateway') || kind === '408')
        expect(got.text).toMatch(/<html>/);
      if (kind === 'reset' || kind === 'hang' || kind === 'cut-mid-body') expect(got.error).toBeDefined();
      if (kind === '200-truncated-json' || kind === '200-not-json')
        expect(() => JSON.parse(got.text)).toThrow();
      if (kind === 'ok-code-string')
        expect(JSON.parse(got.text).response.responses.points.item_status.code).toBe('OK');
      if (kind === 'ok-points-object')
        expect(JSON.parse(got.text).response.responses.points.points_redeemed).toEqual({});
      if (kind === 'refuse-813' || kind === 'refuse-816')
        expect(JSON.parse(got.text).response.responses.points.item_status.code).toBe(Number(kind.slice(7)));
      // The next attempt is answered normally: a replay of the key when the first one applied.
      const next = await post(
        '/v1.1/points/redeem?format=json',
        redeemBody({ mobile: c.mobile }, '10', `k-${kind}`),
      );
      expect([kind, fake.commitsFor(c.id).length]).toEqual([kind, refuses(kind) ? 0 : 1]);
      if (!refuses(kind)) expect(next.json.response.responses.points.item_status.code).toBe(800);
    }
  });

  it('never refuses a key it already applied, even when a refusal is scripted (like the real API)', async () => {
    const c = fake.addCustomer(1000);
    fake.script(c.id, 'redeem', ['reset', 'refuse-813']);
    const body = redeemBody({ mobile: c.mobile }, '100', 'k-applied');
    await post('/v1.1/points/redeem?format=json', body).catch(() => undefined);
    const again = await post('/v1.1/points/redeem?format=json', body);
    expect(again.json.response.responses.points.item_status.code).toBe(800);
    expect(fake.attemptsFor(c.id).map((a) => a.applied)).toEqual(['new', 'replay']);
    expect(fake.books(c.id).spends).toBe(1);
  });

  it('refuses requests without the configured credentials', async () => {
    const res = await fetch(`${fake.url}/v1.1/points/redeem?format=json`, {
      method: 'POST',
      headers: { authorization: 'Basic bm9wZTpub3Bl', 'content-type': 'application/json' },
      body: JSON.stringify(redeemBody({ mobile: '1' }, '1')),
    });
    expect(res.status).toBe(401);
  });
});
