import { describe, expect, it } from 'vitest';
import { CANARY, liveEnv } from '../fixtures/canary.js';
import { call } from '../fixtures/clients.js';
import { REQUEST_ID, workflowResponse } from '../fixtures/doc-examples.js';
import { basicHeader, FakeCapillary, type Recorded } from '../fixtures/fake-capillary.js';
import { perTest } from '../fixtures/lifecycle.js';

/**
 * The maker-checker tool against recording fakes, through the real MCP client over stdio: what it
 * needs configured, where it goes, what it embeds, and how it reads the workflow's verdict.
 */

const { server, track } = perTest();
const WORKFLOW = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';
const BASIC = basicHeader(CANARY.user, CANARY.password);
const FILE = {
  entity: { till_id: '50682289' },
  customer: { mobile: '9877792149' },
  points: 100,
  notes: 'Redemption by SMS',
};

/** A fake whose workflow answers the page's example response around what was filed, with `details` changed. */
const workflowFake = (details: Record<string, unknown> = {}) =>
  new FakeCapillary().on('POST', WORKFLOW, (req: Recorded) => {
    const body = workflowResponse(JSON.parse(req.body).payload['IntouchAPITask-Payload']);
    Object.assign(body.data.details, details);
    return { json: body };
  });

describe('request_points_redemption and get_redemption_request: configuration refused locally', () => {
  it.each([
    ['CAPILLARY_ORG_ID', { CAPILLARY_ORG_ID: '' }, /CAPILLARY_ORG_ID is not set/],
    ['CAPILLARY_UI_AUTH_TOKEN', { CAPILLARY_UI_AUTH_TOKEN: '' }, /CAPILLARY_UI_AUTH_TOKEN is not set/],
    [
      'both',
      { CAPILLARY_ORG_ID: '', CAPILLARY_UI_AUTH_TOKEN: '' },
      /CAPILLARY_ORG_ID and CAPILLARY_UI_AUTH_TOKEN are not set/,
    ],
  ])('without %s: nothing is sent, not even the customer look-up', async (_what, unset, message) => {
    const fake = track(await workflowFake().start());
    const m = await server(liveEnv(fake.url, unset));
    for (const [tool, args] of [
      ['request_points_redemption', FILE],
      ['request_points_redemption', { ...FILE, dry_run: true }],
      ['get_redemption_request', { request_id: REQUEST_ID }],
    ] as const) {
      const r = await call(m.client, tool, args);
      expect(r.isError, tool).toBe(true);
      expect(r.structuredContent.error).toMatchObject({
        code: 'workflow_not_configured',
        source: 'config',
        outcome: 'not_sent',
        retryable: false,
      });
      expect(r.structuredContent.error.message).toMatch(message);
    }
    expect(fake.requests).toEqual([]);
    expect(fake.lookups).toEqual([]);
    // The tools that do not use the workflow still work.
    fake.on('GET', '/v2/customers/lookup/points/balance', {
      json: { data: { loyaltyPoints: 5 }, errors: [] },
    });
    const b = await call(m.client, 'get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '9877792149',
    });
    expect(b.isError).toBeFalsy();
  });

  it('under OAuth the filing is refused (a token would expire before the checker acts); reading a request works', async () => {
    const fake = track(
      await workflowFake()
        .on('POST', '/v3/oauth/token/generate', {
          json: { data: { accessToken: 'tok-1', ttlSeconds: 300 }, errors: null },
        })
        .on('GET', `/api_gateway/v2/request-workflow/requests/${REQUEST_ID}`, {
          json: { data: { requestId: REQUEST_ID, state: 'AdminTask' } },
        })
        .start(),
    );
    const m = await server(
      liveEnv(fake.url, {
        CAPILLARY_USERNAME: '',
        CAPILLARY_PASSWORD: '',
        CAPILLARY_OAUTH_CLIENT_KEY: CANARY.oauthKey,
        CAPILLARY_OAUTH_CLIENT_SECRET: CANARY.oauthSecret,
      }),
    );
    const r = await call(m.client, 'request_points_redemption', FILE);
    expect(r.structuredContent.error).toMatchObject({
      code: 'workflow_needs_basic_auth',
      source: 'config',
      outcome: 'not_sent',
      retryable: false,
    });
    expect(r.structuredContent.error.hint).toMatch(/CAPILLARY_USERNAME and CAPILLARY_PASSWORD/);
    expect(fake.requests).toEqual([]);
    const g = await call(m.client, 'get_redemption_request', { request_id: REQUEST_ID });
    expect(g.isError, JSON.stringify(g.structuredContent)).toBeFalsy();
    const read = fake.requests.find((q) => q.method === 'GET')!;
    expect(read.headers).toMatchObject({
      'x-cap-api-oauth-token': 'tok-1',
      'x-cap-api-auth-org-id': CANARY.orgId,
      'x-cap-ui-auth-token': CANARY.uiToken,
    });
  });
});

describe('request_points_redemption: the workflow host and the verdict', () => {
  it('a separate workflow host gets the filing, and the payload names it as the hostname to run on', async () => {
    const api = track(await new FakeCapillary().start());
    const wf = track(await workflowFake().start());
    const m = await server(liveEnv(api.url, { CAPILLARY_WORKFLOW_BASE_URL: wf.url }));
    const r = await call(m.client, 'request_points_redemption', FILE);
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(api.requests).toEqual([]);
    expect(api.lookups.map((l) => l.path)).toEqual(['/v2/customers/lookup/customerDetails']);
    expect(wf.requests).toHaveLength(1);
    const [req] = wf.requests;
    expect(req).toMatchObject({ method: 'POST', path: WORKFLOW, query: {} });
    expect(req.headers).toMatchObject({
      authorization: BASIC,
      'x-cap-api-auth-org-id': CANARY.orgId,
      'x-cap-ui-auth-token': CANARY.uiToken,
    });
    const task = JSON.parse(req.body).payload['IntouchAPITask-Payload'];
    expect(task.hostname).toBe(wf.url);
    expect(task.headers).toEqual({
      Authorization: BASIC,
      'content-type': 'application/json',
      'X-CAP-CLIENT-SIGNATURE': CANARY.signature,
    });
    // The maker, as the workflow names them.
    expect(r.structuredContent).toMatchObject({
      request_id: REQUEST_ID,
      state: 'AdminTask',
      maker: { user_id: '232134', user_name: 'maker@example.com' },
    });
  });

  it.each([
    ['ValidateMakerAccess_Output', false, 'maker_access_denied', /CanMakeRequest/],
    ['ValidatePayload_Output', false, 'workflow_payload_invalid', /embedded redemption invalid/],
    ['ValidateMakerAccess_Output', 'false', 'maker_access_denied', /maker access/],
  ])('%s %j is a failure with its meaning, and a repeat files anew', async (field, value, code, meaning) => {
    const fake = track(await workflowFake({ [field]: value }).start());
    const m = await server(liveEnv(fake.url));
    const r = await call(m.client, 'request_points_redemption', FILE);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error).toMatchObject({
      code,
      source: 'upstream',
      outcome: 'failed',
      retryable: false,
      http_status: 200,
    });
    expect(r.structuredContent.error.message).toMatch(meaning);
    expect(r.structuredContent.error.message).toContain(REQUEST_ID);
    // Nothing will run, so the identical call is not a replay of a success: it files again, with a new key.
    const again = await call(m.client, 'request_points_redemption', FILE);
    expect(again.structuredContent.replayed).toBeUndefined();
    expect(fake.requests).toHaveLength(2);
    const keys = fake.requests.map(
      (q) =>
        JSON.parse(q.body).payload['IntouchAPITask-Payload'].body.root.redeem[0].external_reference_number,
    );
    expect(new Set(keys).size).toBe(2);
  });

  it('both validation outputs true is a success', async () => {
    const fake = track(
      await workflowFake({ ValidateMakerAccess_Output: true, ValidatePayload_Output: 'true' }).start(),
    );
    const m = await server(liveEnv(fake.url));
    const r = await call(m.client, 'request_points_redemption', FILE);
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent.request_id).toBe(REQUEST_ID);
  });
});
