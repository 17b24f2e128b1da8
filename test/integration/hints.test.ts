import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';
import { liveEnv } from '../fixtures/canary.js';
import { tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { FakeCapillary } from '../fixtures/fake-capillary.js';

/** What an error tells the agent to do next: right for the tool and the code, through the real client. */

describe('hints on the embedded sandbox', () => {
  let m: Connected;
  beforeAll(async () => {
    m = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
  });
  afterAll(async () => m?.close());

  it('3316 conveys the documented remedy: redeem as the group, or have Capillary support disable the setting', async () => {
    // Customer 204 is in a group with ENABLE_GROUP_PROGRAMS_REDEMPTION (default seed).
    const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000204' }, points: 5 });
    expect(r.structuredContent.error).toMatchObject({ code: '3316', outcome: 'failed' });
    expect(r.structuredContent.error.hint).toMatch(/pass group/);
    expect(r.structuredContent.error.hint).toMatch(/ENABLE_GROUP_PROGRAMS_REDEMPTION/);
    expect(r.structuredContent.error.hint).toMatch(/Product Support/);
  });

  it('an unknown redemption id is not hinted as "already reversed"', async () => {
    const r = await call(m.client, 'reverse_redemption', {
      redemption_id: 'nosuch1',
      customer: { mobile: '919000000001' },
    });
    expect(r.structuredContent.error.code).toBe('902');
    expect(r.structuredContent.error.hint).not.toMatch(/was already reversed/);
    expect(r.structuredContent.error.hint).toMatch(/redemption id is unknown/);
  });
});

describe('hints after an unknown outcome, by tool (a recording fake answers 500 with no body)', () => {
  let fake: FakeCapillary;
  let m: Connected;
  beforeAll(async () => {
    const lost = { status: 500, text: '' };
    fake = await new FakeCapillary()
      .on('PUT', '/v2/points/updateRedemption', lost)
      .on('POST', '/v2/points/unlockPromisedPoints', lost)
      .on('GET', '/v1.1/points/validationcode', lost)
      .on('POST', '/v1.1/points/redeem', lost)
      .start();
    m = await connectStdio(liveEnv(fake.url));
  });
  afterAll(async () => {
    await m?.close();
    await fake?.close();
  });

  it.each([
    ['update_redemption', { redemption_id: 'r1', purpose: 'p' }, /identical update is safe/],
    [
      'unlock_promised_points',
      {
        identifier_name: 'mobile',
        identifier_value: '919000000003',
        source: 'INSTORE',
        event_name: 'TransactionAdd',
        bill_number: 'B-1',
      },
      /Check get_points_balance/,
    ],
    [
      'issue_redemption_code',
      { customer: { mobile: '919000000001' }, points: 5 },
      /A code may have been sent/,
    ],
  ])('%s: its own hint, never a key it does not have', async (tool, args, hint) => {
    const r = await call(m.client, tool, args);
    expect(r.structuredContent.error).toMatchObject({ outcome: 'unknown', http_status: 500 });
    expect(r.structuredContent.error.hint).toMatch(hint);
    expect(r.structuredContent.error.hint).not.toMatch(/external_reference_number/);
  });

  it('redeem_points (which has the key) is told to repeat with the same external_reference_number', async () => {
    const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000001' }, points: 5 });
    expect(r.structuredContent.error.outcome).toBe('unknown');
    expect(r.structuredContent.error.hint).toMatch(/same external_reference_number/);
  });

  it('every tool that writes without moving points has its own hint for an unknown outcome', () => {
    const writes = ALL_TOOLS.filter((t) => t.effect !== 'read' && t.effect !== 'spend');
    expect(writes.map((t) => t.name).sort()).toEqual([
      'issue_redemption_code',
      'unlock_promised_points',
      'update_redemption',
    ]);
    for (const t of writes) expect(t.unknownHint, t.name).toMatch(/\w/);
  });
});
