import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxHandle, startSandbox } from '../../src/sandbox/index.js';
import { tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { sandboxEnv } from '../fixtures/sandbox.js';

// What the sandbox grew for issue 17, end to end: the real MCP client, the built server, and a
// sandbox whose own books (snapshot, stats, request count) say what happened upstream.

describe('unlock and update through the MCP client against the sandbox', () => {
  let sb: SandboxHandle;
  let m: Connected;
  // the snapshot's shape is internal to the sandbox
  const snap = () => sb.snapshot() as any;
  const promised = (customerId: number) =>
    snap().customers.find((c: { id: number }) => c.id === customerId)?.promised ?? [];
  const locked = (customerId: number) =>
    promised(customerId).filter((p: { unlockedAt: number | null }) => p.unlockedAt === null).length;
  const unlockArgs = (extra: Record<string, unknown>) => ({
    source: 'INSTORE',
    event_name: 'TransactionAdd',
    ...extra,
  });

  beforeAll(async () => {
    sb = await startSandbox();
    m = await connectStdio(sandboxEnv(sb.url, tempDir()));
  });
  afterAll(async () => {
    await m?.close();
    await sb?.close();
  });

  it('a promotion unlock is told from a bill unlock: promotion fields, no bill number', async () => {
    const r = await call(
      m.client,
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
    expect(sb.stats().unlocks.byCustomer['105']).toEqual({ count: 2, points: 80 });
  });

  it('primaryUserId names the customer; with USERGROUP2 it names the group of that primary member', async () => {
    const r = await call(
      m.client,
      'unlock_promised_points',
      unlockArgs({ identifier_name: 'primaryUserId', identifier_value: 103, bill_number: 'B-1001' }),
    );
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    expect(r.structuredContent.total_points_unlocked).toBe(120);
    expect(locked(103)).toBe(0);
    const group = (value: string) =>
      call(
        m.client,
        'unlock_promised_points',
        unlockArgs({
          identifier_name: 'primaryUserId',
          identifier_value: value,
          type: 'USERGROUP2',
          event_name: 'GroupTransactionAdd',
          bill_number: 'B-1',
        }),
      );
    // 201 is group 9001's primary member (a group, with no promised bill); 202 is not primary
    expect((await group('201')).structuredContent.error.code).toBe('82323277');
    expect((await group('202')).structuredContent.error.code).toBe('1645');
  });

  it("the page's typed fields go out as the sandbox's typed reader accepts them", async () => {
    // a fresh sandbox customer for this test: 103's and 105's bills are unlocked above
    const r = await call(
      m.client,
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
    const before = sb.requests;
    const bad = await call(
      m.client,
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
    expect(sb.requests).toBe(before);
  });

  it('update_redemption without entity (the page does not require it) and with a cardnumber entity', async () => {
    const red = await call(m.client, 'redeem_points', {
      customer: { mobile: '919000000001' },
      points: 2,
      external_reference_number: 'fid-upd-1',
    });
    expect(red.isError, JSON.stringify(red.structuredContent)).toBeFalsy();
    const id = red.structuredContent.redemption_id;
    const bare = await call(m.client, 'update_redemption', { redemption_id: id, purpose: 'no entity' });
    expect(bare.isError, JSON.stringify(bare.structuredContent)).toBeFalsy();
    expect(bare.structuredContent).toMatchObject({
      redemption_id: id,
      purpose: 'no entity',
      customer_id: '101',
    });
    const card = await call(m.client, 'update_redemption', {
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
    const other = await call(m.client, 'update_redemption', {
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
