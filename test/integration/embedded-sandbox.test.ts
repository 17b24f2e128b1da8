import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../fixtures/cli.js';
import { type Connected, call, connectStdio } from '../fixtures/clients.js';
import { sleep } from '../fixtures/lifecycle.js';
import { AUTH, call as sandboxCall, WF_HEADERS } from '../fixtures/sandbox.js';

// Every tool through the real MCP client over stdio, against the embedded sandbox (no configuration).
const ASHA = { mobile: '919000000001' };

describe('the server on its embedded sandbox', () => {
  let m: Connected;
  let sandboxUrl: string;
  /** The checker's decision, made outside the agent's tools as in Capillary. */
  const decide = (requestId: string, actionDecision: 'approved' | 'rejected') =>
    sandboxCall(
      { url: sandboxUrl },
      'PUT',
      '/api_gateway/v2/request-workflow/POINTS-REDEMPTION',
      {
        requestId,
        actionName: 'AdminTask',
        payload: { 'AdminTask-Payload': { actionDecision, actionMessage: actionDecision } },
      },
      { authorization: AUTH, ...WF_HEADERS },
    );
  const balance = async (mobile: string) =>
    (await call(m.client, 'get_points_balance', { identifier_name: 'mobile', identifier_value: mobile }))
      .structuredContent.balance;

  beforeAll(async () => {
    m = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
    // The sandbox starts while the server already answers; it says so once it listens.
    for (let t = 0; t < 100 && !/SANDBOX MODE/.test(m.stderr()); t++) await sleep(50);
    const match = /sandbox at (http:\/\/127\.0\.0\.1:\d+)/.exec(m.stderr());
    sandboxUrl = match?.[1] ?? '';
  });
  afterAll(async () => m?.close());

  it('says it is the sandbox, on stderr and in every result', async () => {
    expect(m.stderr()).toMatch(/SANDBOX MODE/);
    expect(sandboxUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await call(m.client, 'get_points_balance', {
      identifier_name: 'mobile',
      identifier_value: '919000000001',
    });
    expect(r.structuredContent.environment).toBe('sandbox');
  });

  it('a redemption lowers the balance by exactly the points, to the thousandth', async () => {
    const before = await balance('919000000001');
    const r = await call(m.client, 'redeem_points', { customer: ASHA, points: 12.345 });
    expect(r.structuredContent.points_redeemed).toBe(12.345);
    expect(await balance('919000000001')).toBe(Math.round((before - 12.345) * 1000) / 1000);
    for (let i = 0; i < 10; i++)
      await call(m.client, 'redeem_points', {
        customer: ASHA,
        points: 0.001,
        external_reference_number: `tiny-${i}`,
      });
    expect(await balance('919000000001')).toBe(Math.round((before - 12.355) * 1000) / 1000);
  });

  it('a maker-checker request waits in AdminTask and executes only when a checker approves', async () => {
    const before = await balance('919000000001');
    const r = await call(m.client, 'request_points_redemption', {
      entity: { store_id: '50682288' },
      customer: ASHA,
      points: 100,
    });
    const id = r.structuredContent.request_id;
    expect(r.structuredContent.state).toBe('AdminTask');
    expect(await balance('919000000001')).toBe(before);
    // The checker acts outside the agent's tools, as in Capillary.
    const approve = await decide(id, 'approved');
    expect(approve.status).toBe(200);
    const s = await call(m.client, 'get_redemption_request', { request_id: id });
    expect(s.structuredContent).toMatchObject({
      state: 'Approved',
      decision: 'approved',
      result: { http_status: 200, code: 800, balance: before - 100 },
    });
    expect(await balance('919000000001')).toBe(before - 100);
  });

  it('a rejected request spends nothing', async () => {
    const before = await balance('919000000001');
    const r = await call(m.client, 'request_points_redemption', {
      entity: { store_id: '1' },
      customer: ASHA,
      points: 77,
    });
    await decide(r.structuredContent.request_id, 'rejected');
    const s = await call(m.client, 'get_redemption_request', { request_id: r.structuredContent.request_id });
    expect(s.structuredContent.state).toBe('Rejected');
    expect(await balance('919000000001')).toBe(before);
  });

  it('update_redemption changes the bill metadata of a real redemption', async () => {
    const r = await call(m.client, 'redeem_points', {
      customer: ASHA,
      points: 3,
      external_reference_number: 'upd-1',
    });
    const u = await call(m.client, 'update_redemption', {
      external_reference_number: 'upd-1',
      bill_id: '9223372036854775807',
      bill_number: 'B-9',
      entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: ASHA.mobile },
    });
    expect(u.structuredContent).toMatchObject({
      redemption_id: r.structuredContent.redemption_id,
      bill_id: '9223372036854775807',
      bill_number: 'B-9',
    });
  });

  describe('documented error codes come back as structured errors', () => {
    const cases: Array<[string, string, Record<string, unknown>, number | string]> = [
      ['unknown customer', 'redeem_points', { customer: { mobile: '919999999999' }, points: 1 }, 816],
      ['insufficient points', 'redeem_points', { customer: { mobile: '919000000002' }, points: 1 }, 803],
      ['validation code required', 'redeem_points', { customer: { mobile: '919000000004' }, points: 1 }, 824],
      [
        'invalid validation code',
        'redeem_points',
        { customer: { mobile: '919000000004' }, points: 1, validation_code: 'AAAA11' },
        808,
      ],
      ['zero points (local, 801)', 'redeem_points', { customer: ASHA, points: 0 }, 801],
      ['four decimals (local, 878)', 'redeem_points', { customer: ASHA, points: 0.0001 }, 878],
      ['no metadata (local, 748)', 'update_redemption', { redemption_id: 'x' }, 748],
      [
        'two identifiers (local, 749)',
        'update_redemption',
        { redemption_id: 'x', external_reference_number: 'y', purpose: 'p' },
        749,
      ],
      [
        'no entity, unknown redemption (750)',
        'update_redemption',
        { redemption_id: 'nope', purpose: 'p' },
        750,
      ],
      [
        'a fleet entity: none in the sandbox (1219)',
        'update_redemption',
        {
          redemption_id: 'nope',
          purpose: 'p',
          entity: { type: 'FLEET', identifier_type: 'id', identifier_value: '1' },
        },
        1219,
      ],
      [
        'entity type invalid (local, 1212)',
        'update_redemption',
        {
          redemption_id: 'x',
          purpose: 'p',
          entity: { type: 'X', identifier_type: 'mobile', identifier_value: '1' },
        },
        1212,
      ],
      [
        'unknown redemption (750)',
        'update_redemption',
        {
          redemption_id: 'nope',
          purpose: 'p',
          entity: { type: 'CUSTOMER', identifier_type: 'mobile', identifier_value: ASHA.mobile },
        },
        750,
      ],
      [
        'no such bill (82323277)',
        'unlock_promised_points',
        {
          identifier_name: 'mobile',
          identifier_value: '919000000003',
          source: 'INSTORE',
          event_name: 'TransactionAdd',
          bill_number: 'B-404',
        },
        82323277,
      ],
      [
        'no event log (3918)',
        'unlock_promised_points',
        {
          identifier_name: 'mobile',
          identifier_value: '919000000003',
          source: 'INSTORE',
          event_name: 'TransactionAdd',
          bill_number: 'B-1001',
          event_log_id: '12345',
        },
        3918,
      ],
      [
        'identifier missing (local, 82323284)',
        'unlock_promised_points',
        { identifier_name: 'mobile', source: 'INSTORE', event_name: 'TransactionAdd', bill_number: 'B-1001' },
        82323284,
      ],
      [
        'reverse an unknown redemption (902)',
        'reverse_redemption',
        { redemption_id: 'nope', customer: ASHA },
        902,
      ],
    ];
    it.each(cases)('%s', async (_l, tool, args, code) => {
      const r = await call(m.client, tool, args);
      expect(r.isError).toBe(true);
      expect(r.structuredContent.error.code).toBe(String(code));
    });
  });

  describe('the fault customers', () => {
    it('500 before anything is written: an error, nothing spent', async () => {
      const before = await balance('919000000500');
      const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000500' }, points: 10 });
      expect(r.isError).toBe(true);
      expect(r.structuredContent.error.http_status).toBe(500);
      expect(await balance('919000000500')).toBe(before);
    });
    it('response lost after the write: unknown outcome, and the repeat does not spend twice', async () => {
      const before = await balance('919000000599');
      const first = await call(m.client, 'redeem_points', {
        customer: { mobile: '919000000599' },
        points: 10,
      });
      expect(first.structuredContent.error.outcome).toBe('unknown');
      expect(await balance('919000000599')).toBe(before - 10);
      // The fault customer drops every response; the repeat re-sends the same key, which the
      // sandbox deduplicates, so however often the agent repeats, 10 points were spent once.
      await call(m.client, 'redeem_points', { customer: { mobile: '919000000599' }, points: 10 });
      await call(m.client, 'redeem_points', { customer: { mobile: '919000000599' }, points: 10 });
      expect(await balance('919000000599')).toBe(before - 10);
    });
    it('521 is retried with backoff (with progress notifications), then reported as retryable with nothing written', async () => {
      const notes: string[] = [];
      const r = (await m.client.callTool(
        { name: 'redeem_points', arguments: { customer: { mobile: '919000000521' }, points: 10 } },
        undefined,
        {
          onprogress: (p) => notes.push(String(p.message)),
        },
      )) as any;
      expect(r.structuredContent.error).toMatchObject({ code: '521', retryable: true, outcome: 'failed' });
      expect(notes.length).toBe(3);
      expect(notes[0]).toMatch(/HTTP 521; retrying/);
      expect(await balance('919000000521')).toBe(10000);
    });
    it('429 with Retry-After is honoured within the bound, then reported', async () => {
      const r = await call(m.client, 'redeem_points', { customer: { mobile: '919000000429' }, points: 10 });
      expect(r.structuredContent.error).toMatchObject({ http_status: 429, retryable: true });
      expect(await balance('919000000429')).toBe(10000);
    });
  });
});

describe('the embedded sandbox starting in the background (stdio)', () => {
  it('a call made right after initialize waits for it and succeeds', async () => {
    const m = await connectStdio({ CAPILLARY_DATA_DIR: tempDir() });
    try {
      const r = await call(m.client, 'get_points_balance', {
        identifier_name: 'mobile',
        identifier_value: '919000000001',
      });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ environment: 'sandbox', balance: 5000 });
    } finally {
      await m.close();
    }
  });

  it('a seed it cannot load ends the server with one clear line and exit code 1', async () => {
    const dir = tempDir();
    const seed = join(dir, 'seed.json');
    writeFileSync(seed, '{"customers": [{"id": "not a number"}]}');
    const { status: code, stderr: err } = await runCli([], {
      HOME: dir,
      CAPILLARY_DATA_DIR: dir,
      CAPILLARY_SANDBOX_SEED: seed,
    });
    expect(code).toBe(1);
    expect(err).toMatch(/^capillary-loyalty-mcp: .*seed/m);
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
  });
});
