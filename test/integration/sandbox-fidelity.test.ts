import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { sandboxEnv } from '../fixtures/sandbox.js';

// What the sandbox grew for issue 17, end to end: the real MCP client, the built server, and a
// sandbox whose own books (snapshot, stats, request count) say what happened upstream.

/** A fresh sandbox and the built server on it over stdio (live mode, the sandbox's credentials). */
function sandboxAndServer(env: Record<string, string> = {}): { sb: SandboxHandle; m: Connected } {
  const up = {} as { sb: SandboxHandle; m: Connected };
  beforeAll(async () => {
    up.sb = await startSandbox();
    up.m = await connectStdio({ ...sandboxEnv(up.sb.url, tempDir()), ...env });
  });
  afterAll(async () => {
    await up.m?.close();
    await up.sb?.close();
  });
  return up;
}

describe('unlock and update through the MCP client against the sandbox', () => {
  const up = sandboxAndServer();
  // the snapshot's shape is internal to the sandbox
  const snap = () => up.sb.snapshot() as any;
  const promised = (customerId: number) =>
    snap().customers.find((c: { id: number }) => c.id === customerId)?.promised ?? [];
  const locked = (customerId: number) =>
    promised(customerId).filter((p: { unlockedAt: number | null }) => p.unlockedAt === null).length;
  const unlockArgs = (extra: Record<string, unknown>) => ({
    source: 'INSTORE',
    event_name: 'TransactionAdd',
    ...extra,
  });

  it('a promotion unlock is told from a bill unlock: promotion fields, no bill number', async () => {
    const r = await call(
      up.m.client,
      'unlock_promised_points',
      unlockArgs({ identifier_name: 'cuid', identifier_value: 'CUID-105', bill_number: 'B-2001' }),
    );
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent.points_unlocked).toEqual([
      { bill_number: 'B-2001', item_code: 'SKU-2', points: 50, program_id: '1' },
      {
        points: 30,
        program_id: '1',
        promotion_id: '12',
        promotion_identifier: 'PROMO-12',
        promotion_name: 'Double points weekend',
      },
    ]);
    expect(r.structuredContent.total_points_unlocked).toBe(80);
    expect(locked(105)).toBe(0);
    expect(up.sb.stats().unlocks.byCustomer['105']).toEqual({ count: 2, points: 80 });
  });

  it('primaryUserId names the customer; with USERGROUP2 it names the group of that primary member, whose bill joins its pool', async () => {
    const r = await call(
      up.m.client,
      'unlock_promised_points',
      unlockArgs({ identifier_name: 'primaryUserId', identifier_value: 103, bill_number: 'B-1001' }),
    );
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent.total_points_unlocked).toBe(120);
    expect(locked(103)).toBe(0);
    const group = (value: string) =>
      call(
        up.m.client,
        'unlock_promised_points',
        unlockArgs({
          identifier_name: 'primaryUserId',
          identifier_value: value,
          type: 'USERGROUP2',
          event_name: 'GroupTransactionAdd',
          bill_number: 'B-1',
        }),
      );
    // 201 is group 9001's primary member (a group, with no bill B-1); 202 is not primary
    expect((await group('201')).structuredContent.error.code).toBe('82323277');
    expect((await group('202')).structuredContent.error.code).toBe('1645');
    // the group's own bill: its pool gains the points, the primary member's balance does not
    const g = await call(
      up.m.client,
      'unlock_promised_points',
      unlockArgs({
        identifier_name: 'externalId',
        identifier_value: 'GRP-9001',
        type: 'USERGROUP2',
        event_name: 'GroupTransactionAdd',
        bill_number: 'G-3001',
      }),
    );
    expect(g.isError, JSON.stringify(g.structuredContent)).toBeFalsy();
    expect(g.structuredContent.total_points_unlocked).toBe(200);
    expect(up.sb.stats().unlocks.byGroup).toEqual({ '9001': { count: 1, points: 200 } });
    expect(up.sb.stats().unlocks.byCustomer['201']).toBeUndefined();
  });

  it("the page's typed fields go out as the sandbox's typed reader accepts them", async () => {
    // a fresh sandbox customer for this test: 103's and 105's bills are unlocked above
    const r = await call(
      up.m.client,
      'unlock_promised_points',
      unlockArgs({
        identifier_name: 'externalId',
        identifier_value: 'EXT-102',
        bill_number: 16484,
        event_log_id: 1235315,
        line_item_ids: [64384, 64743],
        item_codes: ['gd739'],
        bill_date: '2022-02-12',
        source_store_id: 1122,
        source_till_id: 323,
        source_program_id: 2121,
      }),
    );
    // the typed fields passed (a wrong type would be 400); 102 has no such bill
    expect(r.structuredContent.error.code).toBe('82323277');
    const before = up.sb.requests;
    const bad = await call(
      up.m.client,
      'unlock_promised_points',
      unlockArgs({
        identifier_name: 'mobile',
        identifier_value: '919000000003',
        bill_number: 'B-1001',
        bill_date: '12/02/2022',
      }),
    );
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent.error.message).toMatch(/bill_date/);
    expect(up.sb.requests).toBe(before);
  });

  it('update_redemption without entity (the page does not require it) and with a cardnumber entity', async () => {
    const red = await call(up.m.client, 'redeem_points', {
      customer: { mobile: '919000000001' },
      points: 2,
      external_reference_number: 'fid-upd-1',
    });
    expect(red.isError, JSON.stringify(red.structuredContent)).toBeFalsy();
    const id = red.structuredContent.redemption_id;
    const bare = await call(up.m.client, 'update_redemption', { redemption_id: id, purpose: 'no entity' });
    expect(bare.isError, JSON.stringify(bare.structuredContent)).toBeFalsy();
    expect(bare.structuredContent).toMatchObject({
      redemption_id: id,
      purpose: 'no entity',
      customer_id: '101',
    });
    const card = await call(up.m.client, 'update_redemption', {
      external_reference_number: 'fid-upd-1',
      bill_number: 'B-card',
      entity: { type: 'CUSTOMER', identifier_type: 'cardnumber', identifier_value: '7000000101' },
    });
    expect(card.isError, JSON.stringify(card.structuredContent)).toBeFalsy();
    expect(card.structuredContent).toMatchObject({
      redemption_id: id,
      bill_number: 'B-card',
      purpose: 'no entity',
    });
    const stored = snap().redemptions.find((x: { redemptionId: string }) => x.redemptionId === id);
    expect(stored).toMatchObject({ billNumber: 'B-card', purpose: 'no entity' });
    // someone else's card is not the owner: refused, nothing changed
    const other = await call(up.m.client, 'update_redemption', {
      redemption_id: id,
      purpose: 'hijack',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: '919000000002' },
    });
    expect(other.structuredContent.error.code).toBe('750');
    expect(snap().redemptions.find((x: { redemptionId: string }) => x.redemptionId === id)?.purpose).toBe(
      'no entity',
    );
  });
});

describe('groups with pooled points through the MCP client, judged by the sandbox books', () => {
  const up = sandboxAndServer({ CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY: '100' });
  const redeem = (mobile: string, points: number, group?: Record<string, unknown>, key?: string) =>
    call(up.m.client, 'redeem_points', {
      customer: { mobile },
      points,
      ...(group ? { group } : {}),
      ...(key ? { external_reference_number: key } : {}),
    });
  const pool = (id: number) => snapGroup(id).pointsMilli / 1000;
  // the snapshot's shape is internal to the sandbox
  const snapGroup = (id: number) => (up.sb.snapshot() as any).groups.find((g: { id: number }) => g.id === id);

  it('1632 for a group that does not exist or a customer outside it, 828 without redemption configured', async () => {
    const nobody = await redeem('919000000201', 5, { id: 77 });
    expect(nobody.structuredContent.error).toMatchObject({ code: '1632', outcome: 'failed' });
    const outsider = await redeem('919000000001', 5, { id: 9001 });
    expect(outsider.structuredContent.error).toMatchObject({ code: '1632', outcome: 'failed' });
    const unconfigured = await redeem('919000000203', 5, { id: 9002 });
    expect(unconfigured.structuredContent.error).toMatchObject({ code: '828', outcome: 'failed' });
    expect(up.sb.stats().redemptions.count).toBe(0);
    expect(pool(9001)).toBe(3000);
    expect(pool(9002)).toBe(500);
  });

  it('3316 alone; the same member redeeming as the group draws from the pool', async () => {
    const alone = await redeem('919000000204', 5);
    expect(alone.structuredContent.error).toMatchObject({ code: '3316', outcome: 'failed' });
    // With the per-customer cap set, a group is named by its id: its external id alone is refused.
    const byExternal = await redeem('919000000204', 5, { external_id: 'GRP-9003' });
    expect(byExternal.structuredContent.error).toMatchObject({
      code: 'group_id_required',
      outcome: 'not_sent',
    });
    expect(pool(9003)).toBe(800);
    const asGroup = await redeem('919000000204', 5, { id: 9003, external_id: 'GRP-9003' });
    expect(asGroup.isError, JSON.stringify(asGroup.structuredContent)).toBeFalsy();
    expect(asGroup.structuredContent.balance).toBe(795);
    expect(pool(9003)).toBe(795);
    expect(up.sb.stats().redemptions.byGroup['9003']).toEqual({ count: 1, points: 5 });
  });

  it("the per-customer cap holds on the group's pool whichever member asks; a member's own points are apart", async () => {
    const first = await redeem('919000000201', 70, { id: 9001 }, 'grp-cap-1');
    expect(first.isError, JSON.stringify(first.structuredContent)).toBeFalsy();
    const second = await redeem('919000000202', 70, { id: 9001 }, 'grp-cap-2');
    expect(second.structuredContent.error).toMatchObject({
      code: 'cap_per_customer_per_day',
      outcome: 'not_sent',
      limit: { left: 30 },
    });
    expect(pool(9001)).toBe(2930);
    expect(up.sb.stats().redemptions.byGroup['9001']).toEqual({ count: 1, points: 70 });
    // 202's own 50 points are another account, with its own cap
    const own = await redeem('919000000202', 40, undefined, 'grp-cap-own');
    expect(own.isError, JSON.stringify(own.structuredContent)).toBeFalsy();
    expect(own.structuredContent.balance).toBe(10);
    expect(pool(9001)).toBe(2930);
  });
});

describe("the sandbox's answers: every documented field an agent can use reaches structuredContent", () => {
  const up = sandboxAndServer();

  it('redeem: deductions, local value, the customer identifiers; no -1 bill id; update: program, till, times', async () => {
    const r = await call(up.m.client, 'redeem_points', {
      customer: { id: 101 },
      points: 12.5,
      transaction_number: 'B-77',
      external_reference_number: 'fields-1',
    });
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    const out = r.structuredContent;
    expect(out).toMatchObject({
      points_redeemed: 12.5,
      balance: 4987.5,
      redeemed_value: 12.5,
      redeemed_local_value: 12.5,
      user_id: '101',
      customer: { mobile: '919000000001', email: 'asha@example.com', external_id: 'EXT-101' },
    });
    expect(out.deductions).toEqual([
      expect.objectContaining({ type: 'points', points: 12.5, currency_value: 12.5, bill_number: 'B-77' }),
    ]);
    // the sandbox answers redeemed_on_bill_id -1 ("no bill id"): it never reaches the agent
    expect(JSON.stringify(out)).not.toMatch(/"-1"|:-1[,}]/);

    const u = await call(up.m.client, 'update_redemption', {
      redemption_id: out.redemption_id,
      purpose: 'fields',
    });
    expect(u.isError, JSON.stringify(u.structuredContent)).toBeFalsy();
    expect(u.structuredContent).toMatchObject({
      redemption_id: out.redemption_id,
      external_reference_number: 'fields-1',
      purpose: 'fields',
      points_redeemed: 12.5,
      customer_id: '101',
      program_id: '1',
      till_id: '50010001',
      point_deductions: [],
    });
    // the sandbox names its till after its login, a credential: it never reaches the agent
    expect(u.structuredContent).toHaveProperty('till_name');
    expect(JSON.stringify(u.structuredContent)).not.toContain('sandbox_till');
    for (const t of ['redemption_time', 'points_redemption_time', 'redemption_date'])
      expect(Number.isNaN(Date.parse(u.structuredContent[t])), t).toBe(false);
    // no bill id was ever set: the API's -1 stays out
    expect(u.structuredContent).not.toHaveProperty('bill_id');
  });

  it("maker-checker: the maker's user id and name", async () => {
    const r = await call(up.m.client, 'request_points_redemption', {
      entity: { till_id: 50682289 },
      customer: { mobile: 919000000001 },
      points: 7,
    });
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({
      state: 'AdminTask',
      maker: { user_id: '75001', user_name: 'sandbox.maker@example.com' },
    });
  });
});
