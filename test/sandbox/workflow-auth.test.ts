import { afterEach, describe, expect, it } from 'vitest';
import { basicAuthHeader, type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { AUTH, balance, call, fakeClock, WF_HEADERS } from '../fixtures/sandbox.js';

let sb: SandboxHandle | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

const WF = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';
const wfHeaders = { authorization: AUTH, ...WF_HEADERS };

function createBody(
  points: string | number,
  extra: Record<string, unknown> = {},
  headers = { Authorization: AUTH },
) {
  return {
    entityInfo: { tillId: '50682289', storeId: '50682288', zoneId: '50682286', conceptId: '50678331' },
    payload: {
      'IntouchAPITask-Payload': {
        hostname: 'https://eu.api.capillarytech.com',
        path: '/v1.1/points/redeem',
        method: 'POST',
        pathParams: {},
        queryParams: { skip_validation: 'true', format: 'json' },
        body: {
          root: {
            redeem: {
              points_redeemed: points,
              customer: { mobile: '919000000001' },
              redemption_time: '2020-04-15 23:01:46',
              transaction_number: 'numbr1',
              notes: 'Redemption by SMS',
              ...extra,
            },
          },
        },
        headers: { ...headers, 'content-type': 'application/json', 'X-CAP-CLIENT-SIGNATURE': 'jatin' },
      },
    },
  };
}

const decide = (requestId: string, actionDecision: string, actionMessage = 'ok') => ({
  requestId,
  actionName: 'AdminTask',
  payload: { 'AdminTask-Payload': { actionDecision, actionMessage } },
});

describe('request workflow', () => {
  it('create -> AdminTask (echoing the embedded headers) -> approve executes the redemption', async () => {
    sb = await startSandbox();
    const body = createBody('100', { external_reference_number: 'ACR-1' });
    const c = await call(sb, 'POST', WF, body, wfHeaders);
    expect(c.status).toBe(200);
    const d = c.json.data;
    expect(d.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(d).toMatchObject({ requestType: 'points-redemption', state: 'AdminTask', endTime: null });
    expect(d.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(d.details['IntouchAPITask-Payload']).toEqual(body.payload['IntouchAPITask-Payload']);
    expect(d.details['IntouchAPITask-Payload'].headers.Authorization).toBe(AUTH);
    expect(d.details.ValidateMakerAccess_Output).toBe(true);
    expect(d.details.ValidatePayload_Output).toBe(true);
    expect(await balance(sb, '919000000001')).toBe(5000);

    const g = await call(
      sb,
      'GET',
      `/api_gateway/v2/request-workflow/requests/${d.requestId}`,
      undefined,
      wfHeaders,
    );
    expect(g.json.data).toMatchObject({ requestId: d.requestId, state: 'AdminTask', result: null });

    const a = await call(sb, 'PUT', WF, decide(d.requestId, 'approved'), wfHeaders);
    expect(a.status).toBe(200);
    expect(a.json.data.state).toBe('Approved');
    expect(a.json.data.endTime).toMatch(/^\d{4}-/);
    expect(a.json.data.details['AdminTask-Payload']).toEqual({
      actionDecision: 'approved',
      actionMessage: 'ok',
    });
    expect(a.json.data.result.httpStatus).toBe(200);
    expect(a.json.data.result.body.response.responses.points).toMatchObject({
      points_redeemed: '100',
      balance: 4900,
      item_status: { code: 800 },
    });
    expect(await balance(sb, '919000000001')).toBe(4900);

    // a second decision is refused; the stored request shows the result
    const again = await call(sb, 'PUT', WF, decide(d.requestId, 'approved'), wfHeaders);
    expect(again.status).toBe(409);
    expect(again.json.errors[0].code).toBe(409);
    const g2 = await call(
      sb,
      'GET',
      `/api_gateway/v2/request-workflow/requests/${d.requestId}`,
      undefined,
      wfHeaders,
    );
    expect(g2.json.data.state).toBe('Approved');
    expect(g2.json.data.result.body.response.responses.points.balance).toBe(4900);
    expect(await balance(sb, '919000000001')).toBe(4900);
    // the embedded key is a normal idempotency key
    const direct = await call(sb, 'POST', '/v1.1/points/redeem', {
      root: {
        redeem: [
          { points_redeemed: 100, customer: { mobile: '919000000001' }, external_reference_number: 'ACR-1' },
        ],
      },
    });
    expect(direct.json.response.responses.points.balance).toBe(4900);
    expect(await balance(sb, '919000000001')).toBe(4900);
  });

  it('reject does not move points', async () => {
    sb = await startSandbox();
    const c = await call(sb, 'POST', WF, createBody(100), wfHeaders);
    const r = await call(sb, 'PUT', WF, decide(c.json.data.requestId, 'rejected', 'no'), wfHeaders);
    expect(r.status).toBe(200);
    expect(r.json.data.state).toBe('Rejected');
    expect(r.json.data.result).toBeNull();
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('approval of a failing redemption ends in Failed with the item error; bad embedded auth fails too', async () => {
    sb = await startSandbox();
    const c = await call(sb, 'POST', WF, createBody(999999), wfHeaders);
    const a = await call(sb, 'PUT', WF, decide(c.json.data.requestId, 'approved'), wfHeaders);
    expect(a.json.data.state).toBe('Failed');
    expect(a.json.data.result.httpStatus).toBe(400);
    expect(a.json.data.result.body.response.responses.points.item_status.code).toBe(803);
    const bad = await call(
      sb,
      'POST',
      WF,
      createBody(1, {}, { Authorization: basicAuthHeader('sandbox_till', 'wrong') }),
      wfHeaders,
    );
    const b = await call(sb, 'PUT', WF, decide(bad.json.data.requestId, 'approved'), wfHeaders);
    expect(b.json.data.state).toBe('Failed');
    expect(b.json.data.result.httpStatus).toBe(401);
    expect(await balance(sb, '919000000001')).toBe(5000);
  });

  it('validates payloads and headers (400, 401, 403, 404)', async () => {
    sb = await startSandbox();
    const bad = createBody(1);
    (bad.payload['IntouchAPITask-Payload'] as any).path = '/v2/points/reverse';
    expect((await call(sb, 'POST', WF, bad, wfHeaders)).status).toBe(400);
    expect((await call(sb, 'POST', WF, { payload: {} }, wfHeaders)).status).toBe(400);
    const noHeaders = await call(sb, 'POST', WF, createBody(1));
    expect(noHeaders.status).toBe(401);
    expect(noHeaders.json.errors[0]).toMatchObject({ status: false, code: 401 });
    const wrongOrg = await call(sb, 'POST', WF, createBody(1), {
      ...wfHeaders,
      'X-CAP-API-AUTH-ORG-ID': '1',
    });
    expect(wrongOrg.status).toBe(403);
    const wrongUi = await call(sb, 'POST', WF, createBody(1), { ...wfHeaders, 'X-CAP-UI-AUTH-TOKEN': 'x' });
    expect(wrongUi.status).toBe(401);
    const unknown = await call(
      sb,
      'GET',
      '/api_gateway/v2/request-workflow/requests/nope',
      undefined,
      wfHeaders,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({
      errors: [{ status: false, code: 404, message: 'Request not found' }],
      warnings: [],
    });
    const unknownPut = await call(sb, 'PUT', WF, decide('nope', 'approved'), wfHeaders);
    expect(unknownPut.status).toBe(404);
    const c = await call(sb, 'POST', WF, createBody(1), wfHeaders);
    expect((await call(sb, 'PUT', WF, decide(c.json.data.requestId, 'maybe'), wfHeaders)).status).toBe(400);
    const snap = sb.snapshot() as any;
    expect(snap.requests).toHaveLength(1);
  });
});

describe('auth', () => {
  it('401 with the v1.1 and v2 envelopes on bad Basic credentials', async () => {
    sb = await startSandbox();
    const bad = basicAuthHeader('sandbox_till', 'nope');
    const v1 = await call(
      sb,
      'POST',
      '/v1.1/points/redeem',
      { root: { redeem: [] } },
      { authorization: bad },
    );
    expect(v1.status).toBe(401);
    expect(v1.json).toEqual({
      response: { status: { success: 'false', code: 401, message: 'Unauthorized' } },
    });
    const v2 = await call(sb, 'POST', '/v2/points/reverse', {}, {});
    expect(v2.status).toBe(401);
    expect(v2.json).toEqual({
      errors: [{ status: false, code: 401, message: 'Unauthorized' }],
      warnings: [],
    });
    const plain = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000001&points=1', undefined, {
      authorization: `Basic ${Buffer.from('sandbox_till:sandbox-password').toString('base64')}`,
    });
    expect(plain.status).toBe(401);
    const ok = await call(sb, 'GET', '/v1.1/points/isredeemable?mobile=919000000001&points=1');
    expect(ok.status).toBe(200);
  });

  it('OAuth tokens work in both headers and expire after the ttl', async () => {
    const clock = fakeClock();
    sb = await startSandbox({ now: clock.now, oauthTtlSeconds: 60 });
    const wrong = await call(sb, 'POST', '/v3/oauth/token/generate', { key: 'sandbox-key', secret: 'x' }, {});
    expect(wrong.status).toBe(401);
    const t = await call(
      sb,
      'POST',
      '/v3/oauth/token/generate',
      { key: 'sandbox-key', secret: 'sandbox-secret' },
      {},
    );
    expect(t.status).toBe(200);
    expect(t.json.errors).toBeNull();
    expect(t.json.data.ttlSeconds).toBe(60);
    const token = t.json.data.accessToken;
    const path = '/v2/customers/lookup/points/balance?source=INSTORE&identifierName=id&identifierValue=101';
    expect((await call(sb, 'GET', path, undefined, { 'X-CAP-API-OAUTH-TOKEN': token })).status).toBe(200);
    expect((await call(sb, 'GET', path, undefined, { 'CAP-API-ACCESS-TOKEN': token })).status).toBe(200);
    expect((await call(sb, 'GET', path, undefined, { 'X-CAP-API-OAUTH-TOKEN': 'unknown' })).status).toBe(401);
    clock.advance(60_000);
    const expired = await call(sb, 'GET', path, undefined, { 'X-CAP-API-OAUTH-TOKEN': token });
    expect(expired.status).toBe(401);
    expect(expired.json.errors[0].code).toBe(401);
  });
});

describe('routing', () => {
  it('404 with the v2 envelope for unknown paths, 405 for a wrong method', async () => {
    sb = await startSandbox();
    const nf = await call(sb, 'GET', '/v2/nothing/here');
    expect(nf.status).toBe(404);
    expect(nf.json.errors[0]).toMatchObject({ status: false, code: 404 });
    expect(nf.json.warnings).toEqual([]);
    const wm = await call(sb, 'GET', '/v1.1/points/redeem');
    expect(wm.status).toBe(405);
    expect(wm.headers.get('allow')).toBe('POST');
    expect(wm.json.response.status.code).toBe(405);
    const wm2 = await call(sb, 'DELETE', '/v2/points/reverse');
    expect(wm2.status).toBe(405);
    expect(wm2.json.errors[0].code).toBe(405);
    expect(sb.requests).toBe(3);
  });
});
