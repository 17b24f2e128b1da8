import { describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { redemption as args, call } from '../fixtures/clients.js';
import { dedupingRedeem, FakeCapillary, REDEEM } from '../fixtures/fake-capillary.js';
import { perTest } from '../fixtures/lifecycle.js';

/** What the server refuses or only previews before anything is sent: caps, the program pin, dry runs. */

const { server, fakeWith, track } = perTest();

describe('dry run, caps, program pin', () => {
  it('dry_run validates, applies caps and returns the exact request with credentials redacted, sending nothing', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_MAX_POINTS_PER_REDEMPTION: '100' }));
    const r = await call(
      m.client,
      'redeem_points',
      args(40, { dry_run: true, external_reference_number: 'dr-1' }),
    );
    expect(r.isError).toBeFalsy();
    const req = r.structuredContent.dry_run_request;
    expect(req).toMatchObject({
      method: 'POST',
      url: `${fake.url}${REDEEM}`,
      query: { format: 'json' },
      headers: { Authorization: '[REDACTED]' },
    });
    expect(req.body.root.redeem[0]).toMatchObject({
      points_redeemed: '40',
      external_reference_number: 'dr-1',
    });
    const capped = await call(m.client, 'redeem_points', args(400, { dry_run: true }));
    expect(capped.structuredContent.error.code).toBe('cap_per_redemption');
    expect(fake.requests.length).toBe(0);
  });

  it('per-redemption and per-customer-per-day caps refuse before sending, saying which cap and what is left; the daily cap survives a restart', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const env = liveEnv(fake.url, {
      CAPILLARY_MAX_POINTS_PER_REDEMPTION: '250',
      CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '300',
    });
    const m = await server(env);
    const big = await call(m.client, 'redeem_points', args(251));
    expect(big.structuredContent.error).toMatchObject({
      code: 'cap_per_redemption',
      source: 'safety',
      outcome: 'not_sent',
      field: 'points',
    });
    expect(big.structuredContent.error.message).toMatch(/250/);
    expect((await call(m.client, 'redeem_points', args(200))).isError).toBeFalsy();
    const over = await call(m.client, 'redeem_points', args(150));
    expect(over.structuredContent.error.code).toBe('cap_per_customer_per_day');
    expect(over.structuredContent.error.message).toMatch(/300 points per 24 h.*100 left/);
    // Another customer has their own allowance.
    expect(
      (await call(m.client, 'redeem_points', { customer: { mobile: '919000000002' }, points: 150 })).isError,
    ).toBeFalsy();
    await m.close();
    const m2 = await server(env);
    const after = await call(m2.client, 'redeem_points', args(101));
    expect(after.structuredContent.error.code).toBe('cap_per_customer_per_day');
    expect((await call(m2.client, 'redeem_points', args(100))).isError).toBeFalsy();
    expect(fake.count('POST', REDEEM)).toBe(3);
  });

  it('CAPILLARY_PROGRAM_ID pins the program: another program_id is refused, none means the pinned one', async () => {
    const fake = await fakeWith(dedupingRedeem().route);
    const m = await server(liveEnv(fake.url, { CAPILLARY_PROGRAM_ID: '973' }));
    const r = await call(m.client, 'redeem_points', args(5, { program_id: '974' }));
    expect(r.structuredContent.error).toMatchObject({ code: 'program_not_allowed', field: 'program_id' });
    await call(m.client, 'redeem_points', args(5));
    expect(fake.requests[0].query.program_id).toBe('973');
  });
});

describe('dry run makes no network call at all', () => {
  it('a maker-checker dry run in OAuth mode fetches no token and is refused: an OAuth token cannot be embedded', async () => {
    const fake = track(
      await new FakeCapillary()
        .on('POST', '/v3/oauth/token/generate', {
          json: { data: { accessToken: 'tok-should-not-be-fetched', ttlSeconds: 300 }, errors: null },
        })
        .start(),
    );
    const m = await server(
      liveEnv(fake.url, {
        CAPILLARY_USERNAME: '',
        CAPILLARY_PASSWORD: '',
        CAPILLARY_OAUTH_CLIENT_KEY: 'k',
        CAPILLARY_OAUTH_CLIENT_SECRET: 'oauth-secret-x1',
      }),
    );
    const r = await call(m.client, 'request_points_redemption', {
      entity: { till_id: '1' },
      customer: { mobile: '919000000001' },
      points: 5,
      dry_run: true,
    });
    // The request would run when approved, long after a 300-second token expired.
    expect(r.structuredContent.error).toMatchObject({
      code: 'workflow_needs_basic_auth',
      source: 'config',
      outcome: 'not_sent',
    });
    expect(fake.requests.length).toBe(0);
  });
});
