// Start-up of the PostgreSQL ledger: where it is (said without the password), the migrations
// run under an advisory lock, and the one clear message when it cannot start.
import type pg from 'pg';
import { ConfigError, type PgTarget, urlPassword } from '../config.js';
import { MIGRATION_LOCK, MIGRATIONS, SCHEMA_TABLE } from './pg-schema.js';

/** A migration (or the wait for another replica's) may take this long; a call's statement cannot. */
const MIGRATION_TIMEOUT_MS = 600_000;

type Log = (level: 'warn' | 'error' | 'info', msg: string, fields?: Record<string, unknown>) => void;

/** "user@host:port/db" of a target, as the driver will resolve it; never the password. */
export function describeTarget(t: PgTarget): string {
  let user = t.user;
  let host = t.host;
  let port = t.port ? String(t.port) : undefined;
  let db = t.database;
  if (t.connectionString) {
    try {
      const u = new URL(t.connectionString);
      user = decodeURIComponent(u.username) || undefined;
      host = u.searchParams.get('host') ?? (u.hostname || undefined);
      port = u.port || undefined;
      db = decodeURIComponent(u.pathname.slice(1)) || undefined;
    } catch {
      return '(an unreadable CAPILLARY_LEDGER_URL)';
    }
  }
  user ??= process.env.USER ?? 'postgres';
  return `${user}@${host ?? 'localhost'}:${port ?? '5432'}/${db ?? user}`;
}

/** A driver error, or the server going away (class 08 connection, 57P operator intervention). */
export function connectionLost(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57P');
}

const NETWORK = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOENT',
]);

/** The start-up failure, said once, naming the server and what to check; the password never. */
export function startupError(e: unknown, where: string, target: PgTarget): ConfigError {
  const err = e as { code?: string; message?: string };
  const password = target.password ?? urlPassword(target.connectionString);
  let msg = String(err?.message ?? e);
  if (password) msg = msg.split(password).join('***');
  const code = err?.code ?? '';
  const which = target.connectionString ? 'CAPILLARY_LEDGER_URL' : 'the PG* variables';
  let line: string;
  if (NETWORK.has(code) || /timeout|terminated|ECONNRESET/i.test(msg))
    line = `cannot reach the PostgreSQL ledger at ${where} (${code || msg}): is the server running, and is ${which} right?`;
  else if (code === '28P01' || code === '28000')
    line = `PostgreSQL at ${where} refused the ledger's credentials (${msg}): check the user and password in ${which}`;
  else if (code === '3D000') line = `PostgreSQL at ${where}: ${msg}; create it (createdb) or fix ${which}`;
  else if (code === '42501')
    line = `PostgreSQL at ${where}: the ledger's user may not create its tables (${msg}); grant it CREATE on the database's schema`;
  else line = `the PostgreSQL ledger at ${where} could not be prepared: ${msg}`;
  return new ConfigError([`CAPILLARY_LEDGER=postgres: ${line}`]);
}

/**
 * Brings the schema up to this server's version: each migration once, in its own transaction,
 * recorded in capillary_schema. Replicas starting together queue on a session advisory lock, so
 * the first applies them and the others find them done. A schema newer than this server (a
 * rolling upgrade under way) is used as it is: migrations only add.
 */
export async function migrate(pool: pg.Pool, log: Log): Promise<void> {
  const c = await pool.connect();
  let failed: unknown;
  try {
    // A migration on a large table may take longer than a call's statement timeout.
    await c.query(`SET statement_timeout = 0; SET lock_timeout = '${MIGRATION_TIMEOUT_MS}ms'`);
    // The client's own read timeout too: waiting for another replica's migration, or running one.
    const long = (text: string, values?: unknown[]) =>
      c.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig);
    await long('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await c.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const have = new Set<number>(
        (await c.query(`SELECT version FROM ${SCHEMA_TABLE}`)).rows.map((r) => Number(r.version)),
      );
      for (const m of MIGRATIONS) {
        if (have.has(m.version)) continue;
        await c.query('BEGIN');
        try {
          await long(m.sql);
          await c.query(`INSERT INTO ${SCHEMA_TABLE} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK').catch(() => {});
          throw e;
        }
        log('info', `ledger: PostgreSQL schema migrated to version ${m.version} (${m.name})`);
      }
      const newest = Math.max(0, ...have);
      const ours = MIGRATIONS[MIGRATIONS.length - 1].version;
      if (newest > ours)
        log(
          'warn',
          `ledger: the PostgreSQL schema is at version ${newest}, newer than this server's ${ours}`,
        );
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      await c.query('RESET statement_timeout; RESET lock_timeout');
    }
  } catch (e) {
    failed = e;
    throw e;
  } finally {
    // A connection that failed mid-way is not handed back with session settings or a lock.
    c.release(failed ? (failed as Error) : undefined);
  }
}
