import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, describe, expect, it } from 'vitest';
import { liveEnv } from '../fixtures/canary.js';
import { spawnHttp } from '../fixtures/cli.js';
import { connectHttp, connectStdio } from '../fixtures/clients.js';
import { FakeCapillary, type Recorded, type Reply } from '../fixtures/fake-capillary.js';
import { basicCanaries, jwtCanaries, LeakScanner, spellingsOf } from '../fixtures/leak-scan.js';

/**
 * Canary credentials over an upstream that echoes everything it receives (headers, query
 * string, body) in every spelling a server or proxy may use, into every free-text field the
 * tools read. Everything that leaves the server is scanned: tool results (dry-run previews and
 * errors among them), stderr at debug level, the ledger and the audit log.
 */
const USER = 'till.user';
const PASSWORD = 'canary-pass-5f3e';
const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const UI_JWT = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: 'canary-maker', org: 777, exp: 1900000000 })}.${Buffer.from('canary-signature-bytes-0a1b2c3d').toString('base64url')}`;
// No dictionary words around the dashes: a 12-character piece of a \u-escaped spelling is
// mostly escapes, and "\u002dtoken\u" would match the header name X-CAP-API-OAUTH-TOKEN.
const OAUTH_SECRET = 'cnry-o7s-8d1f-77c1-qx2';
const OAUTH_TOKEN = 'cnry-tk9-0d9e-4471-vb8';
const REQUEST_ID = '00000000-0000-4000-8000-000000000001';
const HTTP_TOKEN = 'cnry-hb3-5be2-aa61-zr4';

const BASIC = basicCanaries(USER, PASSWORD);
const OAUTH = { 'OAuth secret': OAUTH_SECRET, 'OAuth token': OAUTH_TOKEN };
const CANARIES = { ...BASIC, ...jwtCanaries(UI_JWT), ...OAUTH, 'HTTP bearer token': HTTP_TOKEN };
/** The credentials a server in a mode holds (in OAuth mode the password is nobody's secret). */
const heldIn = (oauth: boolean): Record<string, string> => {
  const other = oauth ? BASIC : OAUTH;
  return Object.fromEntries(Object.entries(CANARIES).filter(([k]) => !(k in other)));
};

/** What the upstream echoes of one request: each value that carries a credential, spelled every way. */
function echoes(r: Recorded): string[] {
  const auth = String(r.headers.authorization ?? '');
  const b64 = auth.replace(/^Basic /, '');
  const decoded = b64 ? Buffer.from(b64, 'base64').toString('utf8') : '';
  const ui = String(r.headers['x-cap-ui-auth-token'] ?? '');
  const values = [
    auth,
    b64,
    decoded,
    decoded.split(':')[1] ?? '',
    String(r.headers['x-cap-api-oauth-token'] ?? ''),
    ui,
    ui.split('.').slice(1).join('.'),
    new URLSearchParams(r.query).toString(),
    r.body,
  ].filter((v) => v.length >= 12);
  return values.flatMap((v) => Object.entries(spellingsOf(v)).map(([how, text]) => `${how}: ${text}`));
}
const echo = (r: Recorded) => echoes(r).join(' | ');

/** The upstream: every route answers with the request echoed into the fields its tool reads. */
function echoing(fake: FakeCapillary, sent: string[]) {
  const on = (method: string, path: string, reply: (r: Recorded, n: number) => Reply) =>
    fake.on(method, path, (r, n) => {
      const out = reply(r, n);
      if ('json' in out || 'text' in out) sent.push(JSON.stringify(out));
      return out;
    });
  on('POST', '/v3/oauth/token/generate', () => ({
    json: { data: { accessToken: OAUTH_TOKEN, ttlSeconds: 300 }, errors: null },
  }));
  on('POST', '/v1.1/points/redeem', (r) => {
    const item = JSON.parse(r.body).root.redeem[0];
    if (item.notes === 'fail')
      return {
        status: 400,
        json: {
          response: {
            status: { success: 'false', code: 500, message: echo(r) },
            responses: { points: { item_status: { success: 'false', code: 816, message: echo(r) } } },
          },
        },
      };
    return {
      json: {
        response: {
          status: { success: 'true', code: 200, message: echo(r) },
          responses: {
            points: {
              redemption_id: echo(r),
              points_redeemed: item.points_redeemed,
              user_id: echo(r),
              balance: 1,
              item_status: { success: 'true', code: 800, message: echo(r) },
            },
          },
        },
      },
    };
  });
  on('GET', '/v1.1/points/isredeemable', (r) => ({
    json: {
      response: {
        status: { success: 'true', code: 200 },
        points: {
          redeemable: {
            is_redeemable: 'false',
            item_status: { success: 'false', code: 809, message: echo(r) },
          },
        },
      },
    },
  }));
  on('GET', '/v1.1/points/validationcode', (r) => ({
    json: {
      response: {
        status: { success: 'true', code: 200 },
        validation_code: { code: { item_status: { success: 'true', code: 200, message: echo(r) } } },
      },
    },
  }));
  on('POST', '/api_gateway/v2/request-workflow/POINTS-REDEMPTION', (r) => ({
    json: { data: { requestId: echo(r), state: echo(r), requestType: echo(r) } },
  }));
  on('GET', `/api_gateway/v2/request-workflow/requests/${REQUEST_ID}`, (r) => ({
    json: {
      data: {
        requestId: echo(r),
        state: echo(r),
        result: {
          httpStatus: 200,
          body: {
            response: {
              responses: { points: { redemption_id: echo(r), item_status: { message: echo(r) } } },
            },
          },
        },
      },
    },
  }));
  on('GET', '/v2/customers/lookup/points/balance', (r, n) => {
    // OAuth mode: the first call is refused, forcing one token refresh.
    if (r.headers['x-cap-api-oauth-token'] && n === 1)
      return { status: 401, json: { errors: [{ code: 401, message: echo(r) }] } };
    return {
      json: {
        data: {
          customerId: echo(r),
          loyaltyPoints: 5,
          promised: echoes(r).map((e) => ({ billNumber: e, eventName: e, eventLogId: e, points: 1 })),
        },
        errors: [],
      },
    };
  });
  on('PUT', '/v2/points/updateRedemption', (r) =>
    JSON.parse(r.body).purpose === 'fail'
      ? { status: 400, json: { errors: [{ code: 750, message: echo(r) }], warnings: [] } }
      : { json: { data: { redemptionId: echo(r), purpose: echo(r), warnings: echoes(r) }, errors: [] } },
  );
  on('POST', '/v2/points/unlockPromisedPoints', (r) => ({
    json: {
      data: {
        pointsUnlocked: echoes(r).map((e) => ({
          billNumber: e,
          itemCode: e,
          pointsUnlocked: 1,
          programId: e,
        })),
      },
      errors: [],
    },
  }));
  on('POST', '/v2/points/reverse', (r) =>
    JSON.parse(r.body).pointsToBeReversed === '2'
      ? { status: 500, text: `<html>${echo(r)}</html>` }
      : { json: { data: { redemptionId: echo(r), reversalId: echo(r), pointsReversed: 1 }, errors: [] } },
  );
  return fake;
}

const mobile = { mobile: '919000000001' };
/** Every tool, succeeding and failing, plus dry runs and arguments that carry secrets themselves. */
const SCENARIOS: Array<[string, Record<string, unknown>]> = [
  ['get_points_balance', { identifier_name: 'mobile', identifier_value: '919000000001' }],
  ['check_points_redeemable', { customer: mobile, points: 1 }],
  ['issue_redemption_code', { customer: mobile, points: 1 }],
  ['redeem_points', { customer: mobile, points: 5 }],
  ['redeem_points', { customer: mobile, points: 6, notes: 'fail' }],
  ['redeem_points', { customer: mobile, points: 7, dry_run: true }],
  [
    'redeem_points',
    {
      customer: mobile,
      points: 8,
      notes: `agent pasted ${HTTP_TOKEN} and ${PASSWORD} and ${encodeURIComponent(BASIC['Basic header'])}`,
    },
  ],
  ['redeem_points', { customer: mobile, points: 9, notes: `again ${UI_JWT}`, dry_run: true }],
  ['request_points_redemption', { entity: { till_id: '1' }, customer: mobile, points: 5 }],
  ['request_points_redemption', { entity: { till_id: '1' }, customer: mobile, points: 5, dry_run: true }],
  // A request id the tool takes, so the workflow's headers travel (and come back echoed) under
  // OAuth too, where the filing itself is refused (it needs Basic).
  ['get_redemption_request', { request_id: REQUEST_ID }],
  ['update_redemption', { redemption_id: 'x', purpose: 'p' }],
  ['update_redemption', { redemption_id: 'x', purpose: 'fail' }],
  ['update_redemption', { redemption_id: 'x', purpose: `p ${OAUTH_SECRET}`, dry_run: true }],
  [
    'unlock_promised_points',
    {
      identifier_name: 'mobile',
      identifier_value: '919000000001',
      source: 'INSTORE',
      event_name: 'TransactionAdd',
      bill_number: 'B1',
    },
  ],
  ['reverse_redemption', { redemption_id: 'x', customer: mobile, points: 1 }],
  ['reverse_redemption', { redemption_id: 'y', customer: mobile, points: 2 }],
  ['reverse_redemption', { redemption_id: 'z', customer: mobile, points: 3, dry_run: true }],
];

/** Every regular file under dir, read whole. */
function filesUnder(dir: string): Array<[string, string]> {
  return readdirSync(dir).flatMap((name): Array<[string, string]> => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [[name, readFileSync(p, 'utf8')]];
  });
}

const MODES: Array<[string, Record<string, string>]> = [
  ['stdio, Basic auth', {}],
  [
    'stdio, OAuth',
    {
      CAPILLARY_USERNAME: '',
      CAPILLARY_PASSWORD: '',
      CAPILLARY_OAUTH_CLIENT_KEY: 'canary-key',
      CAPILLARY_OAUTH_CLIENT_SECRET: OAUTH_SECRET,
    },
  ],
  ['HTTP transport, Basic auth', {}],
];

describe('no credential leaves the process, in any spelling', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const o of open) await o.close().catch(() => {});
  });

  it.each(MODES)(
    '%s: tool results, dry-run previews, errors, stderr at debug, ledger and audit hold no canary',
    async (mode, extra) => {
      const sent: string[] = [];
      const fake = await echoing(new FakeCapillary(), sent).start();
      open.push(fake);
      const env = liveEnv(fake.url, {
        CAPILLARY_USERNAME: USER,
        CAPILLARY_PASSWORD: PASSWORD,
        CAPILLARY_UI_AUTH_TOKEN: UI_JWT,
        MCP_HTTP_TOKEN: HTTP_TOKEN,
        CAPILLARY_LOG_LEVEL: 'debug',
        // Nothing cut: the whole echo reaches the results, the worst case for leaks.
        CAPILLARY_MAX_STRING_CHARS: '1000000',
        CAPILLARY_MAX_ARRAY_ITEMS: '100000',
        ...extra,
      });
      let client: Client;
      let stderr: () => string;
      if (mode.startsWith('HTTP')) {
        const srv = await spawnHttp(env);
        open.push({ close: () => srv.stop() });
        client = await connectHttp(srv.url, { headers: { authorization: `Bearer ${HTTP_TOKEN}` } });
        open.push(client);
        stderr = srv.stderr;
      } else {
        const m = await connectStdio(env);
        open.push(m);
        client = m.client;
        stderr = m.stderr;
      }
      const results: string[] = [];
      for (const [tool, args] of SCENARIOS)
        results.push(JSON.stringify(await client.callTool({ name: tool, arguments: args })));
      await client.close();

      const scanner = new LeakScanner().addAll(heldIn(!!extra.CAPILLARY_OAUTH_CLIENT_SECRET));
      // The upstream really received the credentials, and echoed them in every spelling.
      const wire = [...fake.requests.map((r) => JSON.stringify(r.headers)), ...sent].join('\n');
      expect(scanner.kinds(wire).size).toBeGreaterThan(20);
      expect(results.join('\n')).toContain('[REDACTED]');

      results.forEach((r, i) => {
        scanner.scan(`result of ${SCENARIOS[i][0]} #${i}`, r);
      });
      scanner.scan('stderr', stderr());
      const files = filesUnder(env.CAPILLARY_DATA_DIR);
      expect(files.map(([n]) => n)).toEqual(expect.arrayContaining(['audit.jsonl']));
      expect(files.some(([n]) => n.startsWith('ledger-'))).toBe(true);
      for (const [name, text] of files) scanner.scan(name, text);
      expect(scanner.findings()).toEqual([]);
      if (extra.CAPILLARY_OAUTH_CLIENT_SECRET) {
        // One token, refreshed once after the 401, and the balance call then succeeded.
        expect(fake.count('POST', '/v3/oauth/token/generate')).toBe(2);
        expect(results[0]).toContain('"balance":5');
      }
    },
  );

  it('the scanner catches a deliberately unredacted echo, in each spelling of each canary', () => {
    const scanner = new LeakScanner().addAll(CANARIES);
    for (const [label, secret] of Object.entries(CANARIES))
      for (const [how, text] of Object.entries(spellingsOf(secret)))
        expect(
          scanner.scan(`${label} ${how}`, `{"message":"echo: ${text} done"}`),
          `${label} as ${how}`,
        ).not.toEqual([]);
    // What the upstream echoed of a real request, as it travelled, is caught too; clean text is not.
    const r: Recorded = {
      method: 'POST',
      path: '/',
      query: { a: '1' },
      headers: { authorization: BASIC['Basic header'] },
      body: '{}',
      seq: 1,
    };
    expect(scanner.scan('echo', echo(r)).length).toBeGreaterThan(10);
    expect(scanner.scan('clean', JSON.stringify({ message: 'Points Redeemed', hint: '[REDACTED]' }))).toEqual(
      [],
    );
  });
});
