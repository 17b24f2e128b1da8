// `npm run bench:redact`: the cost of the redaction walk every tool result, ledger entry, audit
// record and log line goes through, on payloads shaped like the server's own (a redemption, a
// dry-run preview, a balance with promised rows, an error, the largest string a result can
// hold). Secrets: a Basic login, a UI JWT, an OAuth token and an HTTP bearer token, expanded the
// way the server expands them (src/capillary/credentials.ts). Prints CPU microseconds per walk.

import { CapillaryClient } from '../src/capillary/client.js';
import { configSecrets, loadConfig } from '../src/config.js';
import { Logger } from '../src/log.js';
import { Redactor } from '../src/safety/redact.js';
import requestRedemption from '../tools/request_points_redemption.js';
import { table } from './lib/stats.js';

const jwtPart = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWT = `${jwtPart({ alg: 'HS256', typ: 'JWT' })}.${jwtPart({ sub: 'maker.bot', org: 777, iat: 1700000000, exp: 1900000000 })}.${Buffer.from('x'.repeat(32)).toString('base64url')}`;
const cfg = loadConfig({
  CAPILLARY_BASE_URL: 'https://eu.api.capillarytech.com',
  CAPILLARY_USERNAME: 'till.user',
  CAPILLARY_PASSWORD: 'a-real-looking-password-9f2c',
  CAPILLARY_UI_AUTH_TOKEN: JWT,
  CAPILLARY_ORG_ID: '777',
  MCP_HTTP_TOKEN: 'bearer-token-0123456789abcdef0123',
  CAPILLARY_DATA_DIR: '/nonexistent',
});

const redemption = {
  environment: 'live',
  redemption_id: 'RDM-1234567890',
  points_redeemed: '125.5',
  balance: 4874.5,
  redeemed_value: 125.5,
  user_id: '101',
  item_status: { success: true, code: 800, message: 'Points Redeemed' },
  idempotency_key: 'mcp-rdm-3f9c1b2a7d4e4f0a',
};
// The maker-checker dry run as the server builds it: the tool's request, previewed by the client.
const client = new CapillaryClient(cfg, new Redactor([]), new Logger('error'));
const key = 'mcp-req-8c1d2e3f4a5b6c7d';
const request = requestRedemption.request(
  {
    entity: { till_id: '75152' },
    customer: { mobile: '919000000001' },
    points: 500,
    notes: 'birthday voucher for the customer, approved by the store manager',
  },
  { config: cfg, idempotencyKey: key, embeddedAuth: client.redactedAuthorizationHeader() },
);
const preview = {
  environment: 'live',
  dry_run_request: client.preview(request),
  idempotency_key: key,
  note: 'dry run: nothing was sent',
};
const balance = {
  environment: 'live',
  customer_id: '101',
  balance: 5000,
  promised_points: 2000,
  promised: Array.from({ length: 20 }, (_, i) => ({
    bill_number: `BILL-2026-11-${String(i).padStart(4, '0')}`,
    points: 100,
    event_name: 'TransactionAdd',
    event_log_id: String(900000000 + i),
  })),
};
const error = {
  environment: 'live',
  error: {
    code: 816,
    message: 'The API refused the request (code 816, HTTP 400).',
    upstream_message: 'Customer not found. '.repeat(50),
    hint: 'No such customer; check the identifier with get_points_balance.',
    retryable: false,
    source: 'upstream',
    outcome: 'failed',
    http_status: 400,
  },
};
const longest = { environment: 'live', message: 'a quite ordinary sentence of upstream text. '.repeat(93) };

/** This process's CPU time in ms: on a busy machine, steadier than the wall clock. */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function measure(r: Redactor, v: unknown): number {
  // Rounds of at least 50 ms of CPU time (the clock's resolution and one GC do not matter); best of seven.
  const rounds: number[] = [];
  let n = 200;
  for (;;) {
    const t = cpu();
    for (let i = 0; i < n; i++) r.value(v);
    if (cpu() - t > 50) break;
    n *= 2;
  }
  for (let k = 0; k < 7; k++) {
    const t = cpu();
    for (let i = 0; i < n; i++) r.value(v);
    rounds.push(((cpu() - t) * 1000) / n);
  }
  return Math.min(...rounds);
}

const secrets = configSecrets(cfg);
const none = new Redactor([]);
const all = new Redactor(secrets);
const t0 = performance.now();
new Redactor(secrets).text('x'.repeat(64));
const buildMs = performance.now() - t0;
const payloads: Array<[string, unknown]> = [
  ['redemption result', redemption],
  ['dry-run preview', preview],
  ['balance, 20 promised rows', balance],
  ['error, 1 KB upstream message', error],
  ['4 KB string', longest],
];
const rows = payloads.map(([name, v]) => {
  const bytes = JSON.stringify(v).length;
  const a = measure(none, v);
  const b = measure(all, v);
  return [name, String(bytes), a.toFixed(2), b.toFixed(2)];
});
process.stdout.write(
  `${table(['payload', 'bytes', 'µs, no secrets', `µs, ${secrets.length} secrets`], rows)}\n` +
    `index build (first use): ${buildMs.toFixed(1)} ms\n`,
);
