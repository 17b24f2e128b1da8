import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CANARY, liveEnv } from '../fixtures/canary.js';
import { call, connectStdio } from '../fixtures/clients.js';
import { FakeCapillary, md5hex as md5, type Recorded } from '../fixtures/fake-capillary.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const PASSWORD = CANARY.password;
const UI_TOKEN = CANARY.uiToken;
const OAUTH_SECRET = CANARY.oauthSecret;
const OAUTH_TOKEN = 'canary-issued-token-0d9e';

/** Every form a secret could leak in. */
const forms = (s: string) => [s, md5(s), b64(s)];
const CANARIES = [
  ...forms(PASSWORD),
  b64(`till.user:${md5(PASSWORD)}`),
  ...forms(UI_TOKEN),
  ...forms(OAUTH_SECRET),
  ...forms(OAUTH_TOKEN),
];

/** An upstream that echoes whatever auth it got into every answer: the worst case for leaks. */
function echoing(fake: FakeCapillary) {
  const echo = (r: Recorded) =>
    `${r.headers.authorization ?? ''} ${r.headers['x-cap-api-oauth-token'] ?? ''} ${r.headers['x-cap-ui-auth-token'] ?? ''}`;
  let tokenCalls = 0;
  return fake
    .on('POST', '/v3/oauth/token/generate', () => ({
      json: { data: { accessToken: OAUTH_TOKEN, ttlSeconds: 300 }, errors: null },
    }))
    .on('POST', '/v1.1/points/redeem', (r) => {
      const item = JSON.parse(r.body).root.redeem[0];
      if (item.notes === 'fail')
        return {
          status: 400,
          json: {
            response: {
              status: { success: 'false', code: 500, message: `failed for ${echo(r)}` },
              responses: {
                points: {
                  item_status: { success: 'false', code: 816, message: `no customer; auth was ${echo(r)}` },
                },
              },
            },
          },
        };
      return {
        json: {
          response: {
            status: { success: 'true', code: 200, message: `ok ${echo(r)}` },
            responses: {
              points: {
                redemption_id: echo(r).trim().slice(0, 40),
                points_redeemed: item.points_redeemed,
                balance: 1,
                item_status: { success: 'true', code: 800, message: echo(r) },
              },
            },
          },
        },
      };
    })
    .on('POST', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', (r) => ({
      json: {
        data: {
          requestId: 'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2',
          state: 'AdminTask',
          details: JSON.parse(r.body).payload,
          echoed: echo(r),
        },
      },
    }))
    .on('GET', '/v2/customers/lookup/points/balance', (r) => {
      tokenCalls++;
      // OAuth mode: the first call is refused, forcing one token refresh.
      if (r.headers['x-cap-api-oauth-token'] && tokenCalls === 1)
        return { status: 401, json: { errors: [{ code: 401, message: `expired ${echo(r)}` }] } };
      return { json: { data: { customerId: 1, loyaltyPoints: 5, note: echo(r) }, errors: [], warnings: [] } };
    })
    .on('PUT', '/v2/points/updateRedemption', (r) => ({
      status: 400,
      json: {
        errors: [{ status: false, code: 750, message: `Redemption update failed : ${echo(r)}` }],
        warnings: [],
      },
    }))
    .on('POST', '/v2/points/reverse', (r) => ({ status: 500, text: `<html>${echo(r)}</html>` }));
}

const scenarios: Array<[string, Record<string, unknown>]> = [
  ['redeem_points', { customer: { mobile: '919000000001' }, points: 5 }],
  ['redeem_points', { customer: { mobile: '919000000001' }, points: 6, notes: 'fail' }],
  ['redeem_points', { customer: { mobile: '919000000001' }, points: 7, dry_run: true }],
  [
    'request_points_redemption',
    { entity: { till_id: '1' }, customer: { mobile: '919000000001' }, points: 5 },
  ],
  [
    'request_points_redemption',
    { entity: { till_id: '1' }, customer: { mobile: '919000000001' }, points: 5, dry_run: true },
  ],
  ['get_points_balance', { identifier_name: 'mobile', identifier_value: '919000000001' }],
  ['update_redemption', { redemption_id: 'x', purpose: 'p' }],
  ['reverse_redemption', { redemption_id: 'x', customer: { mobile: '919000000001' }, points: 1 }],
  ['check_points_redeemable', { customer: { mobile: '919000000001' }, points: 1 }],
  ['redeem_points', { customer: { mobile: PASSWORD }, points: 1 }],
];

describe('secret canaries never leave the process', () => {
  const fakes: FakeCapillary[] = [];
  afterAll(async () => {
    for (const f of fakes) await f.close();
  });

  it.each([
    ['Basic auth', {}],
    [
      'OAuth',
      {
        CAPILLARY_USERNAME: '',
        CAPILLARY_PASSWORD: '',
        CAPILLARY_OAUTH_CLIENT_KEY: CANARY.oauthKey,
        CAPILLARY_OAUTH_CLIENT_SECRET: OAUTH_SECRET,
      },
    ],
  ] as Array<[string, Record<string, string>]>)(
    '%s: no canary in results, stderr, ledger or audit',
    async (_mode, extra) => {
      const fake = await echoing(new FakeCapillary()).start();
      fakes.push(fake);
      const env = liveEnv(fake.url, { CAPILLARY_LOG_LEVEL: 'debug', ...extra });
      const m = await connectStdio(env);
      const outputs: string[] = [];
      for (const [tool, args] of scenarios) outputs.push(JSON.stringify(await call(m.client, tool, args)));
      await m.close();
      // The upstream really did receive (and echo) the secrets, so the sweep is meaningful.
      const sent = fake.requests.map((r) => JSON.stringify(r.headers)).join('\n');
      expect(sent).toContain(
        extra.CAPILLARY_OAUTH_CLIENT_SECRET ? OAUTH_TOKEN : b64(`till.user:${md5(PASSWORD)}`),
      );
      const files = readdirSync(env.CAPILLARY_DATA_DIR).map((f) =>
        readFileSync(join(env.CAPILLARY_DATA_DIR, f), 'utf8'),
      );
      expect(files.length).toBeGreaterThanOrEqual(2); // ledger and audit
      const haystacks = { outputs: outputs.join('\n'), stderr: m.stderr(), files: files.join('\n') };
      for (const [where, text] of Object.entries(haystacks))
        for (const c of CANARIES)
          expect(
            text.includes(c),
            `${where} contains a canary form ${c}: ${text.slice(Math.max(0, text.indexOf(c) - 300), text.indexOf(c) + 60)}`,
          ).toBe(false);
      expect(haystacks.outputs).toContain('[REDACTED]');
      if (extra.CAPILLARY_OAUTH_CLIENT_SECRET) {
        // One token, refreshed once after the 401, and the balance call then succeeded.
        expect(fake.count('POST', '/v3/oauth/token/generate')).toBe(2);
        expect(outputs[5]).toContain('"balance":5');
      }
    },
  );
});
