/**
 * All configuration, in one place: the table of every setting (name, description, default) that
 * the README's configuration table is generated from, the parsers that read the environment
 * through it, and the start-up refusals (unsafe base URLs, missing credentials). One cohesive
 * thing, longer than the house's ~400 lines because the table is, and split it would put
 * defaults and their parsers in two places again.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { credentialSecrets } from './capillary/credentials.js';
import { isLoopback } from './mcp/http/guard.js';
import { Redactor } from './safety/redact.js';

/** Defaults written once: the table below shows them and the parsers use them. */
export const DEFAULTS = {
  clientSignature: 'capillary-loyalty-mcp',
  timeoutMs: 10_000,
  idempotencyWindowSeconds: 86_400,
  httpMaxBodyBytes: 1_048_576,
  shutdownTimeoutMs: 10_000,
  ledgerPoolSize: 10,
  ledgerTimeoutMs: 5_000,
  confirmWindowSeconds: 86_400,
  confirmCooldownSeconds: 3_600,
  maxCodesPerCustomerPerHour: 3,
  identityCacheSeconds: 300,
  maxResponseBytes: 1_048_576,
  maxStringChars: 1000,
  maxArrayItems: 100,
  approvalTtlSeconds: 900,
} as const;

/** Every setting, in one table: parsing, validation and the README's configuration table come from it. */
export const ENV_VARS = [
  [
    'CAPILLARY_BASE_URL',
    'API host, e.g. `https://eu.api.capillarytech.com`. Unset: the embedded sandbox is started and used. No `user:pass@`, query or fragment; `http://` only for a loopback host (see CAPILLARY_ALLOW_INSECURE_HTTP).',
    '(sandbox)',
  ],
  [
    'CAPILLARY_WORKFLOW_BASE_URL',
    'CRM host for the maker-checker request workflow; also the hostname its approved redemption runs on.',
    'CAPILLARY_BASE_URL',
  ],
  ['CAPILLARY_USERNAME', 'Till login for Basic auth (sent as base64(username:md5(password))).', ''],
  ['CAPILLARY_PASSWORD', 'Password for Basic auth. Never logged or returned.', ''],
  [
    'CAPILLARY_OAUTH_CLIENT_KEY',
    'OAuth client key (instead of Basic); token from /v3/oauth/token/generate, cached, refreshed once on 401. The maker-checker filing needs Basic (its embedded credential must outlive the token).',
    '',
  ],
  ['CAPILLARY_OAUTH_CLIENT_SECRET', 'OAuth client secret.', ''],
  [
    'CAPILLARY_ORG_ID',
    'Org id sent as X-CAP-API-AUTH-ORG-ID (request workflow; without it the maker-checker tools refuse).',
    '',
  ],
  [
    'CAPILLARY_UI_AUTH_TOKEN',
    'InTouch user JWT (a maker with CanMakeRequest) sent as X-CAP-UI-AUTH-TOKEN (request workflow; without it the maker-checker tools refuse).',
    '',
  ],
  [
    'CAPILLARY_CLIENT_SIGNATURE',
    'Maker name embedded as X-CAP-CLIENT-SIGNATURE in workflow requests.',
    DEFAULTS.clientSignature,
  ],
  [
    'CAPILLARY_ALLOW_INSECURE_HTTP',
    'UNSAFE. `true`: accept `http://` base URLs for hosts other than loopback, sending the credentials in clear text. Only for a test host on a network you trust.',
    'false',
  ],
  ['CAPILLARY_TIMEOUT_MS', 'Per-request timeout to the API, in ms.', String(DEFAULTS.timeoutMs)],
  [
    'CAPILLARY_MAX_RESPONSE_BYTES',
    "Largest API response body read; past it the read stops and the call fails (a money call's outcome is then unknown). Limits and redaction: docs/leaks-and-limits.md.",
    String(DEFAULTS.maxResponseBytes),
  ],
  [
    'CAPILLARY_MAX_STRING_CHARS',
    'Longest string from an API answer kept in a result or the ledger; longer ones are cut, with a marker saying how much.',
    String(DEFAULTS.maxStringChars),
  ],
  [
    'CAPILLARY_MAX_ARRAY_ITEMS',
    'Most items of an array from an API answer kept in a result or the ledger; the rest are cut, with a note saying how many.',
    String(DEFAULTS.maxArrayItems),
  ],
  [
    'CAPILLARY_DATA_DIR',
    'Folder of the idempotency ledger.',
    '$XDG_DATA_HOME/capillary-loyalty-mcp or ~/.local/share/capillary-loyalty-mcp',
  ],
  [
    'CAPILLARY_LEDGER',
    "`file` (durable, fsync'd; one machine), `postgres` (one ledger for many replicas, see docs/postgres.md; the default when CAPILLARY_LEDGER_URL is set) or `memory` (lost on exit; benchmarks and throwaway tests only).",
    'file',
  ],
  [
    'CAPILLARY_LEDGER_URL',
    'PostgreSQL ledger: `postgres://user:password@host:5432/db`. Without it, `CAPILLARY_LEDGER=postgres` connects with the standard `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`. The password is never logged.',
    '(none)',
  ],
  [
    'CAPILLARY_LEDGER_POOL_SIZE',
    'PostgreSQL ledger: most connections this process opens.',
    String(DEFAULTS.ledgerPoolSize),
  ],
  [
    'CAPILLARY_LEDGER_TIMEOUT_MS',
    'PostgreSQL ledger: longest wait to connect, for a lock or a statement; past it the call is refused (`ledger_unavailable`), nothing sent.',
    String(DEFAULTS.ledgerTimeoutMs),
  ],
  [
    'CAPILLARY_IDEMPOTENCY_WINDOW_SECONDS',
    'How long an identical redemption is replayed instead of sent again.',
    String(DEFAULTS.idempotencyWindowSeconds),
  ],
  [
    'CAPILLARY_IDENTITY_CACHE_SECONDS',
    "How long a customer identifier's resolved Capillary id is reused before it is looked up again (0: every money call looks it up).",
    String(DEFAULTS.identityCacheSeconds),
  ],
  ['CAPILLARY_AUDIT_LOG', 'Audit log file (one JSON line per mutating attempt).', '<data dir>/audit.jsonl'],
  ['CAPILLARY_MAX_POINTS_PER_REDEMPTION', "Cap on one redemption's points.", '(none)'],
  [
    'CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY',
    "Cap on points redeemed per customer (Capillary's customer id, or the group for a group redemption) in a rolling 24 h, counted from the ledger; maker-checker requests count when filed.",
    '(none)',
  ],
  [
    'CAPILLARY_MAX_POINTS_PER_SERVER_PER_DAY',
    'Cap on points redeemed for all customers together in a rolling 24 h, counted from the ledger (shared by every process on the data dir).',
    '(none)',
  ],
  [
    'CAPILLARY_CONFIRM_ABOVE_POINTS',
    "A human's yes (MCP elicitation, or the approval page: CAPILLARY_APPROVAL) is needed once the points moved for one customer in the confirmation window, the call included, would exceed this; reversals count, a reversal of all always asks. Over HTTP it needs MCP_HTTP_TOKEN, unless CAPILLARY_APPROVAL=console.",
    '(none)',
  ],
  [
    'CAPILLARY_CONFIRM_WINDOW_SECONDS',
    'The rolling window of the confirmation budget.',
    String(DEFAULTS.confirmWindowSeconds),
  ],
  [
    'CAPILLARY_CONFIRM_COOLDOWN_SECONDS',
    "After a human's no, how long every money call for that customer needs a yes.",
    String(DEFAULTS.confirmCooldownSeconds),
  ],
  [
    'CAPILLARY_APPROVAL',
    "Where a human's yes is asked: `auto` (MCP elicitation where the client can, else the approval page), `console` (always the approval page: the agent gets `approval_pending` with a link, an operator approves or declines in a browser), `elicit` (elicitation only; a client without it is refused). See docs/approvals.md.",
    'auto',
  ],
  [
    'CAPILLARY_APPROVAL_TTL_SECONDS',
    'How long an approval on the approval page takes an answer; after that it is expired and a repeat of the call asks again.',
    String(DEFAULTS.approvalTtlSeconds),
  ],
  [
    'CAPILLARY_OPERATOR_TOKEN',
    "The operator's sign-in for the approval page and console (never the agent's). Unset: one is generated into `<data dir>/operator-token` (mode 0600) and shown by `capillary-loyalty-mcp operator-token`. Set it the same on every replica.",
    '(generated)',
  ],
  [
    'CAPILLARY_CONSOLE_PORT',
    'stdio mode: the loopback port the approval page and console listen on (printed on stderr); `0` picks a free one, `off` serves none. Over HTTP they are on the same listener under `/console/`.',
    '0',
  ],
  [
    'CAPILLARY_CONSOLE_URL',
    "The console's address as a browser reaches it (behind a proxy), e.g. `https://mcp.example.com/console`; links handed to the agent start with it.",
    '(the listener)',
  ],
  [
    'CAPILLARY_ALLOW_SKIP_VALIDATION',
    "`true`: the agent may pass `skip_validation: true` (skipping the customer's own consent, the OTP). Otherwise such a call is refused before sending.",
    'false',
  ],
  [
    'CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR',
    'How many validation codes (`issue_redemption_code`, a message to the customer each) one customer may be sent per rolling hour; `0` switches the tool off.',
    String(DEFAULTS.maxCodesPerCustomerPerHour),
  ],
  [
    'CAPILLARY_READ_ONLY',
    '`true`: only read-only tools, and no prompt that leads to a write, are listed. Wins over everything else.',
    'false',
  ],
  ['CAPILLARY_TOOLS', 'Comma-separated allow-list of tool names.', '(all)'],
  [
    'CAPILLARY_EXCLUDE_TOOLS',
    'Comma-separated deny-list of tool names. Excluding a way to redeem (`redeem_points`, `request_points_redemption`) excludes the other too, unless it is named in CAPILLARY_TOOLS.',
    '(none)',
  ],
  [
    'CAPILLARY_PROGRAM_ID',
    'Pins the loyalty program: a different program_id from the agent is refused.',
    '(none)',
  ],
  [
    'CAPILLARY_SANDBOX_SEED',
    'Sandbox only: JSON dataset to load instead of the default test customers.',
    '(default dataset)',
  ],
  ['CAPILLARY_SANDBOX_STATE', 'Sandbox only: file the sandbox state persists to.', '(memory)'],
  ['MCP_HTTP_TOKEN', 'Bearer token for the HTTP transport; required when --host is not loopback.', '(none)'],
  [
    'CAPILLARY_STATE_KEY',
    'Secret (at least 32 characters) that signs the requestState of a 2026-07-28 confirmation (input_required), so any replica sharing it can continue a call; replicas must share it.',
    '(a random key kept in CAPILLARY_DATA_DIR/state-key, mode 0600)',
  ],
  [
    'MCP_ALLOWED_HOSTS',
    'HTTP transport: extra accepted Host header values, comma-separated (DNS-rebinding protection).',
    '(the bound host)',
  ],
  [
    'MCP_HTTP_MAX_BODY_BYTES',
    'HTTP transport: largest request body; larger gets 413.',
    String(DEFAULTS.httpMaxBodyBytes),
  ],
  [
    'MCP_SHUTDOWN_TIMEOUT_MS',
    'HTTP transport: how long in-flight calls may finish after SIGTERM/SIGINT.',
    String(DEFAULTS.shutdownTimeoutMs),
  ],
  ['CAPILLARY_LOG_LEVEL', '`error`, `warn`, `info` or `debug` (stderr).', 'info'],
] as const;

export type EnvName = (typeof ENV_VARS)[number][0];

/** The HTTP transport's settings (MCP_*), read from the same table. */
export interface HttpConfig {
  token?: string;
  maxBodyBytes: number;
  shutdownMs: number;
  allowedHosts?: string;
}

export type Auth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'oauth'; key: string; secret: string };

export interface Config {
  environment: 'live' | 'sandbox';
  baseUrl: string;
  workflowBaseUrl: string;
  auth: Auth;
  orgId?: string;
  uiAuthToken?: string;
  clientSignature: string;
  timeoutMs: number;
  /** Bounds on what the API answers (src/safety/untrusted.ts). */
  maxResponseBytes: number;
  maxStringChars: number;
  maxArrayItems: number;
  /** The HTTP transport's bearer token (MCP_HTTP_TOKEN), known here so it is redacted. */
  httpToken?: string;
  /** The key that signs a confirmation's requestState (CAPILLARY_STATE_KEY), redacted like the token. */
  stateKey?: string;
  dataDir: string;
  ledger: LedgerKind;
  /** Where the PostgreSQL ledger is: CAPILLARY_LEDGER_URL, or the PG* variables. */
  ledgerTarget?: PgTarget;
  ledgerPoolSize: number;
  ledgerTimeoutMs: number;
  idempotencyWindowMs: number;
  /** How long a resolved customer identifier is cached. */
  identityCacheMs: number;
  auditLog: string;
  maxPointsPerRedemption?: number;
  maxPointsPerCustomerPerDay?: number;
  maxPointsPerServerPerDay?: number;
  confirmAbovePoints?: number;
  confirmWindowMs: number;
  confirmCooldownMs: number;
  /** CAPILLARY_APPROVAL: where a human's yes is asked. */
  approval: ApprovalMode;
  approvalTtlMs: number;
  /** The operator's sign-in (CAPILLARY_OPERATOR_TOKEN); unset: generated in the data dir. */
  operatorToken?: string;
  /** stdio mode: the console's loopback port (0: a free one); 'off': none. */
  consolePort: number | 'off';
  /** The console's address as a browser reaches it, without a trailing slash. */
  consoleUrl?: string;
  allowSkipValidation: boolean;
  maxCodesPerCustomerPerHour: number;
  readOnly: boolean;
  tools?: string[];
  excludeTools?: string[];
  programId?: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
}

export type LedgerKind = 'file' | 'memory' | 'postgres';

/** How a human's yes is asked (CAPILLARY_APPROVAL; see src/safety/approvals.ts). */
export type ApprovalMode = 'auto' | 'console' | 'elicit';
const APPROVAL_MODES: readonly ApprovalMode[] = ['auto', 'console', 'elicit'];

/** A PostgreSQL server to connect to: a connection string, or the PG* variables' parts. */
export interface PgTarget {
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** The one stderr line the CLI ends with when it cannot start. */
export const fatalLine = (e: unknown): string =>
  `capillary-loyalty-mcp: ${e instanceof ConfigError ? e.message : `fatal: ${e instanceof Error ? e.message : String(e)}`}`
    .replace(/[\r\n]+\s*/g, ' ')
    .concat('\n');

type Env = Partial<Record<string, string | undefined>>;

/** The sandbox's own address and credentials, when the CLI started it. */
export interface SandboxTarget {
  url: string;
  username: string;
  password: string;
  orgId: string;
  uiAuthToken: string;
}

/** The table's parsers over one environment; each problem is collected, none thrown alone. */
function reader(env: Env, problems: string[]) {
  const get = (k: EnvName) => {
    const v = env[k]?.trim();
    return v ? v : undefined;
  };
  const num = (k: EnvName, opts: { int?: boolean; min?: number } = {}) => {
    const raw = get(k);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || n < (opts.min ?? 0)) {
      problems.push(`${k} must be a ${opts.int ? 'whole ' : ''}number >= ${opts.min ?? 0} (got "${raw}")`);
      return undefined;
    }
    return n;
  };
  const bool = (k: EnvName) => {
    const raw = get(k)?.toLowerCase();
    if (raw === undefined) return false;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${k} must be true or false (got "${raw}")`);
    return false;
  };
  const list = (k: EnvName) =>
    get(k)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  // A base URL is never printed: it may hold a password (user:pass@) or a token (?key=...).
  const url = (k: EnvName, v: string | undefined, allowInsecure: boolean) => {
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      problems.push(`${k} is not a valid URL`);
      return undefined;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      problems.push(`${k} must be an https:// URL`);
      return undefined;
    }
    if (u.username || u.password) {
      problems.push(
        `${k} must not contain a user name or password (user:pass@): set CAPILLARY_USERNAME and CAPILLARY_PASSWORD instead`,
      );
      return undefined;
    }
    if (u.search || u.hash || v.includes('?') || v.includes('#')) {
      problems.push(`${k} must not have a query string or fragment`);
      return undefined;
    }
    if (u.protocol === 'http:' && !isLoopback(u.hostname) && !allowInsecure) {
      problems.push(
        `${k} is http:// for a host that is not loopback, so credentials would travel in clear text: use https://, or set CAPILLARY_ALLOW_INSECURE_HTTP=true for a test host on a trusted network`,
      );
      return undefined;
    }
    return v.replace(/\/+$/, '');
  };
  return { get, num, bool, list, url };
}

/** Where the ledger and the audit log are (CAPILLARY_DATA_DIR, CAPILLARY_AUDIT_LOG). */
export function loadLedgerPaths(env: Env): { dataDir: string; auditLog: string } {
  const { get } = reader(env, []);
  const xdg = env.XDG_DATA_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.local', 'share');
  const dataDir = get('CAPILLARY_DATA_DIR') ?? join(xdg, 'capillary-loyalty-mcp');
  return { dataDir, auditLog: get('CAPILLARY_AUDIT_LOG') ?? join(dataDir, 'audit.jsonl') };
}

/** Which ledger, and how to reach PostgreSQL when that is the one (CAPILLARY_LEDGER*). */
export function loadLedgerConfig(
  env: Env,
): Pick<Config, 'ledger' | 'ledgerTarget' | 'ledgerPoolSize' | 'ledgerTimeoutMs'> {
  const problems: string[] = [];
  const out = readLedger(env, problems);
  if (problems.length) throw refusal(problems, reader(env, []).get);
  return out;
}

function readLedger(env: Env, problems: string[]) {
  const { get, num } = reader(env, problems);
  const ledgerUrl = get('CAPILLARY_LEDGER_URL');
  const ledger = (get('CAPILLARY_LEDGER') ?? (ledgerUrl ? 'postgres' : 'file')).toLowerCase();
  if (ledger !== 'file' && ledger !== 'memory' && ledger !== 'postgres')
    problems.push(`CAPILLARY_LEDGER must be file, postgres or memory (got "${ledger}")`);
  if (ledgerUrl && ledger !== 'postgres')
    problems.push(`CAPILLARY_LEDGER_URL is set but CAPILLARY_LEDGER is ${ledger}: set one or the other`);
  if (ledgerUrl && !/^postgres(ql)?:\/\//i.test(ledgerUrl))
    // Not echoed: the value may hold a password.
    problems.push('CAPILLARY_LEDGER_URL must start with postgres:// or postgresql://');
  // The PG* variables are read from this environment, not left to the driver's process.env.
  const pgPort = env.PGPORT?.trim();
  const ledgerTarget: PgTarget | undefined =
    ledger !== 'postgres'
      ? undefined
      : ledgerUrl
        ? { connectionString: ledgerUrl }
        : {
            host: env.PGHOST?.trim() || undefined,
            port: pgPort ? Number(pgPort) : undefined,
            user: env.PGUSER?.trim() || undefined,
            password: env.PGPASSWORD || undefined,
            database: env.PGDATABASE?.trim() || undefined,
          };
  if (pgPort && !(Number.isInteger(Number(pgPort)) && Number(pgPort) > 0))
    problems.push('PGPORT must be a port number');
  return {
    ledger: ledger as LedgerKind,
    ledgerTarget,
    ledgerPoolSize: num('CAPILLARY_LEDGER_POOL_SIZE', { int: true, min: 1 }) ?? DEFAULTS.ledgerPoolSize,
    ledgerTimeoutMs: num('CAPILLARY_LEDGER_TIMEOUT_MS', { int: true, min: 1 }) ?? DEFAULTS.ledgerTimeoutMs,
  };
}

/** The password in a PostgreSQL connection string, if any. */
export function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

/** The embedded sandbox's settings (CAPILLARY_SANDBOX_*), read before the sandbox starts. */
export function loadSandboxConfig(env: Env): { seed?: string; statePath?: string } {
  const { get } = reader(env, []);
  return { seed: get('CAPILLARY_SANDBOX_SEED'), statePath: get('CAPILLARY_SANDBOX_STATE') };
}

/** MCP_* settings for `--http`. Throws ConfigError listing every problem. */
export function loadHttpConfig(env: Env): HttpConfig {
  const problems: string[] = [];
  const { get, num } = reader(env, problems);
  const cfg: HttpConfig = {
    token: get('MCP_HTTP_TOKEN'),
    maxBodyBytes: num('MCP_HTTP_MAX_BODY_BYTES', { int: true, min: 1 }) ?? DEFAULTS.httpMaxBodyBytes,
    shutdownMs: num('MCP_SHUTDOWN_TIMEOUT_MS', { int: true, min: 0 }) ?? DEFAULTS.shutdownTimeoutMs,
    allowedHosts: get('MCP_ALLOWED_HOSTS'),
  };
  // A confirmation proves only that the caller answered: over HTTP the caller must be known.
  // With CAPILLARY_APPROVAL=console every yes is given by a signed-in operator on the page instead.
  if (
    !cfg.token &&
    get('CAPILLARY_CONFIRM_ABOVE_POINTS') !== undefined &&
    get('CAPILLARY_APPROVAL')?.toLowerCase() !== 'console'
  )
    problems.push(
      "CAPILLARY_CONFIRM_ABOVE_POINTS is set, so MCP_HTTP_TOKEN must be set: over HTTP a human's confirmation is only as good as the caller's authentication (anyone who can reach the port could answer the question)",
    );
  if (problems.length) throw refusal(problems, get);
  return cfg;
}

export function loadConfig(env: Env, sandbox?: SandboxTarget): Config {
  const problems: string[] = [];
  const { get, num, bool, list, url } = reader(env, problems);

  let environment: Config['environment'] = 'live';
  const insecure = bool('CAPILLARY_ALLOW_INSECURE_HTTP');
  let baseUrl = url('CAPILLARY_BASE_URL', get('CAPILLARY_BASE_URL'), insecure);
  let auth: Auth | undefined;
  let orgId = get('CAPILLARY_ORG_ID');
  let uiAuthToken = get('CAPILLARY_UI_AUTH_TOKEN');
  if (!get('CAPILLARY_BASE_URL') && sandbox) {
    environment = 'sandbox';
    baseUrl = sandbox.url;
    auth = { kind: 'basic', username: sandbox.username, password: sandbox.password };
    orgId = sandbox.orgId;
    uiAuthToken = sandbox.uiAuthToken;
  } else if (!get('CAPILLARY_BASE_URL')) {
    problems.push('CAPILLARY_BASE_URL is not set (leave it unset only when running the embedded sandbox)');
  } else {
    const user = get('CAPILLARY_USERNAME');
    const pass = get('CAPILLARY_PASSWORD');
    const key = get('CAPILLARY_OAUTH_CLIENT_KEY');
    const secret = get('CAPILLARY_OAUTH_CLIENT_SECRET');
    if (user && pass) auth = { kind: 'basic', username: user, password: pass };
    else if (key && secret) auth = { kind: 'oauth', key, secret };
    else if (user || pass) problems.push('CAPILLARY_USERNAME and CAPILLARY_PASSWORD must both be set');
    else if (key || secret)
      problems.push('CAPILLARY_OAUTH_CLIENT_KEY and CAPILLARY_OAUTH_CLIENT_SECRET must both be set');
    else
      problems.push(
        'CAPILLARY_BASE_URL is set but no credentials are: set CAPILLARY_USERNAME + CAPILLARY_PASSWORD, or CAPILLARY_OAUTH_CLIENT_KEY + CAPILLARY_OAUTH_CLIENT_SECRET',
      );
  }
  const workflowBaseUrl =
    environment === 'sandbox'
      ? (baseUrl as string)
      : (url('CAPILLARY_WORKFLOW_BASE_URL', get('CAPILLARY_WORKFLOW_BASE_URL'), insecure) ?? baseUrl);

  const { dataDir } = loadLedgerPaths(env);
  const stateKey = get('CAPILLARY_STATE_KEY');
  if (stateKey !== undefined && Buffer.byteLength(stateKey, 'utf8') < 32)
    problems.push('CAPILLARY_STATE_KEY must be at least 32 characters (a long random secret)');
  const ledger = readLedger(env, problems);
  const logLevel = (get('CAPILLARY_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel))
    problems.push(`CAPILLARY_LOG_LEVEL must be error, warn, info or debug (got "${logLevel}")`);
  const approval = (get('CAPILLARY_APPROVAL') ?? 'auto').toLowerCase() as ApprovalMode;
  if (!APPROVAL_MODES.includes(approval))
    problems.push(`CAPILLARY_APPROVAL must be auto, console or elicit (got "${approval}")`);
  const portRaw = get('CAPILLARY_CONSOLE_PORT');
  const consolePort =
    portRaw?.toLowerCase() === 'off' ? 'off' : (num('CAPILLARY_CONSOLE_PORT', { int: true, min: 0 }) ?? 0);
  if (typeof consolePort === 'number' && consolePort > 65535)
    problems.push(`CAPILLARY_CONSOLE_PORT must be a port (0-65535) or off (got "${portRaw}")`);
  const consoleUrl = url('CAPILLARY_CONSOLE_URL', get('CAPILLARY_CONSOLE_URL'), true)?.replace(/\/+$/, '');
  const programId = get('CAPILLARY_PROGRAM_ID');
  if (programId !== undefined && !/^\d{1,19}$/.test(programId))
    problems.push(`CAPILLARY_PROGRAM_ID must be digits (got "${programId}")`);

  const cfg: Config = {
    environment,
    baseUrl: baseUrl ?? '',
    workflowBaseUrl: workflowBaseUrl ?? '',
    auth: auth ?? { kind: 'basic', username: '', password: '' },
    orgId,
    uiAuthToken,
    clientSignature: get('CAPILLARY_CLIENT_SIGNATURE') ?? DEFAULTS.clientSignature,
    timeoutMs: num('CAPILLARY_TIMEOUT_MS', { int: true, min: 1 }) ?? DEFAULTS.timeoutMs,
    maxResponseBytes:
      num('CAPILLARY_MAX_RESPONSE_BYTES', { int: true, min: 1024 }) ?? DEFAULTS.maxResponseBytes,
    maxStringChars: num('CAPILLARY_MAX_STRING_CHARS', { int: true, min: 64 }) ?? DEFAULTS.maxStringChars,
    maxArrayItems: num('CAPILLARY_MAX_ARRAY_ITEMS', { int: true, min: 1 }) ?? DEFAULTS.maxArrayItems,
    httpToken: get('MCP_HTTP_TOKEN'),
    stateKey,
    dataDir,
    ...ledger,
    idempotencyWindowMs:
      (num('CAPILLARY_IDEMPOTENCY_WINDOW_SECONDS', { min: 0 }) ?? DEFAULTS.idempotencyWindowSeconds) * 1000,
    auditLog: get('CAPILLARY_AUDIT_LOG') ?? join(dataDir, 'audit.jsonl'),
    identityCacheMs:
      (num('CAPILLARY_IDENTITY_CACHE_SECONDS', { min: 0 }) ?? DEFAULTS.identityCacheSeconds) * 1000,
    maxPointsPerRedemption: num('CAPILLARY_MAX_POINTS_PER_REDEMPTION', { min: 0 }),
    maxPointsPerCustomerPerDay: num('CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY', { min: 0 }),
    maxPointsPerServerPerDay: num('CAPILLARY_MAX_POINTS_PER_SERVER_PER_DAY', { min: 0 }),
    confirmAbovePoints: num('CAPILLARY_CONFIRM_ABOVE_POINTS', { min: 0 }),
    confirmWindowMs:
      (num('CAPILLARY_CONFIRM_WINDOW_SECONDS', { min: 1 }) ?? DEFAULTS.confirmWindowSeconds) * 1000,
    confirmCooldownMs:
      (num('CAPILLARY_CONFIRM_COOLDOWN_SECONDS', { min: 0 }) ?? DEFAULTS.confirmCooldownSeconds) * 1000,
    approval,
    approvalTtlMs: (num('CAPILLARY_APPROVAL_TTL_SECONDS', { min: 1 }) ?? DEFAULTS.approvalTtlSeconds) * 1000,
    operatorToken: get('CAPILLARY_OPERATOR_TOKEN'),
    consolePort,
    ...(consoleUrl ? { consoleUrl } : {}),
    allowSkipValidation: bool('CAPILLARY_ALLOW_SKIP_VALIDATION'),
    maxCodesPerCustomerPerHour:
      num('CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR', { int: true, min: 0 }) ??
      DEFAULTS.maxCodesPerCustomerPerHour,
    readOnly: bool('CAPILLARY_READ_ONLY'),
    tools: list('CAPILLARY_TOOLS'),
    excludeTools: list('CAPILLARY_EXCLUDE_TOOLS'),
    programId,
    logLevel: logLevel as Config['logLevel'],
  };
  if (problems.length) throw refusal(problems, get);
  return cfg;
}

const SECRET_VARS = [
  'CAPILLARY_PASSWORD',
  'CAPILLARY_OAUTH_CLIENT_SECRET',
  'CAPILLARY_UI_AUTH_TOKEN',
  'MCP_HTTP_TOKEN',
  'CAPILLARY_OPERATOR_TOKEN',
  'CAPILLARY_STATE_KEY',
] as const satisfies readonly EnvName[];

/**
 * The start-up error for these problems, with no secret of this environment in it: a secret
 * pasted into the wrong variable would otherwise be echoed in that variable's "(got ...)".
 */
function refusal(problems: string[], get: (k: EnvName) => string | undefined): ConfigError {
  const r = new Redactor([...SECRET_VARS.map(get), urlPassword(get('CAPILLARY_LEDGER_URL'))]);
  return new ConfigError(problems.map((p) => r.text(p)));
}

/**
 * Every secret the configuration holds or derives, for the redactor (see capillary/credentials.ts),
 * and the PostgreSQL ledger's password.
 */
export function configSecrets(cfg: Config): string[] {
  const db = cfg.ledgerTarget;
  const dbPassword = db?.password ?? urlPassword(db?.connectionString);
  return [...credentialSecrets(cfg), dbPassword, cfg.operatorToken].filter((s): s is string => !!s);
}
