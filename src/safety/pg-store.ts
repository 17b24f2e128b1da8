/**
 * The ledger in PostgreSQL: one truth for every replica on one database. The atomic reserve
 * step is one transaction: advisory transaction locks on every identity the call names (and
 * the agent's key), the decision's view read in one statement, decide() run on it, the pending
 * entry inserted (the key is the primary key), commit. Serialization failures, deadlocks and a
 * key claimed by a racing transaction are retried by SQLSTATE. The upstream call happens after
 * the commit, outside any transaction.
 *
 * Faults: any error reaching the database rejects, and the pipeline refuses the call with
 * `ledger_unavailable` (nothing sent). An outcome that cannot be written is kept in this
 * process and retried until the database answers (before this process's next decision); if
 * the process dies first, the pending entry reads back as unknown, as with the file ledger.
 * A commit whose answer was lost (the connection dropped) is ambiguous: the entry, if it was
 * written, is ended as not sent once the database answers again, only if still untouched.
 */
import pg from 'pg';
import type { PgTarget } from '../config.js';
import { DAY_MS, HOUR_MS } from './caps.js';
import type { IdempotencyStore, LedgerEntry, LedgerHealth, RecentOptions } from './ledger.js';
import { atTheDoor, DEFAULT_HORIZON_MS } from './ledger-index.js';
import {
  ANSWER_ONCE_SQL,
  freedSql,
  INSERT_SQL,
  LOCK_SQL,
  OPEN_SQL,
  PURGE_LOCK,
  PURGE_SQL,
  PURGE_SUMS_SQL,
  RECENT_BY_MEANING_SQL,
  RECENT_SQL,
  SPENT_SQL,
  UPSERT_SQL,
  VIEW_SQL,
  VOID_SQL,
  viewSql,
} from './pg-schema.js';
import { connectionLost, describeTarget, migrate, startupError } from './pg-setup.js';
import { DECIDED, endedUnsent, inline, NeedFreed, row, ScopedView, type ViewRow } from './pg-view.js';

/** An outcome's write: one round trip, not waiting for the WAL flush. */
const settleSql = (e: LedgerEntry) =>
  `BEGIN; SET LOCAL synchronous_commit = off; ${inline(UPSERT_SQL, row(e))}; COMMIT`;

import type { Decision, LedgerScope, LedgerView } from './reserve.js';

/** Marks an error of the database met while deciding (not a refusal by the rules). */
const FROM_DB = Symbol('from the database');

/** Whether a decision reads everyone's spending (the per-server cap is set). */
const everyone = (scope: LedgerScope) => scope.limits?.maxPointsPerServerPerDay !== undefined;
/** SQLSTATEs after which the whole transaction is run again: serialization failure, deadlock,
 * and a unique key claimed by a transaction that committed first. */
const RETRY = new Set(['40001', '40P01', '23505']);
const MAX_TRIES = 6;
const PURGE_BATCH = 1000;

export interface PgStoreOptions {
  target: PgTarget;
  /** Most connections this process opens. */
  poolSize?: number;
  /** Longest wait to connect, for a lock, or for one statement. */
  timeoutMs?: number;
  horizonMs?: number;
  /** How often settled entries past the horizon are purged; 0: never in the background. */
  purgeEveryMs?: number;
  now?: () => number;
  /** Where background problems are reported (a purge that failed, an outcome written late). */
  log?: (level: 'warn' | 'error' | 'info', msg: string, fields?: Record<string, unknown>) => void;
  /** Written into connections (pg_stat_activity). */
  name?: string;
  /** Applied to what an entry carries from the API (its result and error) before it is written. */
  redactor?: { value<T>(v: T): T };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PgStore implements IdempotencyStore {
  readonly pool: pg.Pool;
  private readonly horizonMs: number;
  private readonly redactor?: { value<T>(v: T): T };
  private readonly now: () => number;
  private readonly log: NonNullable<PgStoreOptions['log']>;
  /** Writes that did not reach the database, by key (newest wins), retried before any decision. */
  private readonly unwritten = new Map<string, { entry: LedgerEntry; voidOnly: boolean }>();
  private retryTimer?: NodeJS.Timeout;
  private readonly purgeTimers: NodeJS.Timeout[] = [];
  private health_?: { at: number; value: Promise<LedgerHealth> };
  private closed = false;
  /** "user@host:port/db", never the password. */
  readonly where: string;

  private constructor(opts: PgStoreOptions) {
    const timeout = opts.timeoutMs ?? 5_000;
    this.horizonMs = opts.horizonMs ?? DEFAULT_HORIZON_MS;
    this.redactor = opts.redactor;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
    this.where = describeTarget(opts.target);
    this.pool = new pg.Pool({
      ...opts.target,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: timeout,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // Server side: no statement, lock wait or abandoned transaction outlives the timeout.
      statement_timeout: timeout,
      lock_timeout: timeout,
      idle_in_transaction_session_timeout: timeout * 2,
      // Client side too: a server that stopped answering (a network partition) is given up on.
      query_timeout: timeout + 1_000,
      application_name: opts.name ?? 'capillary-loyalty-mcp',
    });
    // An idle connection dropped by a server restart: the pool discards it and opens another.
    this.pool.on('error', (e) =>
      this.log('warn', 'ledger: a PostgreSQL connection was lost', { error: e.message }),
    );
  }

  /**
   * Connects, runs the migrations (once, whichever replica comes first) and starts the
   * background purge. Fails with a message naming the server (never the password).
   */
  static async open(opts: PgStoreOptions): Promise<PgStore> {
    const store = new PgStore(opts);
    try {
      await migrate(store.pool, store.log);
    } catch (e) {
      await store.pool.end().catch(() => {});
      throw startupError(e, store.where, opts.target);
    }
    const every = opts.purgeEveryMs ?? 10 * 60_000;
    if (every > 0) {
      // The first purge soon after start, then at a steady pace; never holds the process open.
      const first = setTimeout(() => void store.purgeQuietly(), Math.min(every, 30_000));
      const steady = setInterval(() => void store.purgeQuietly(), every);
      for (const t of [first, steady]) t.unref();
      store.purgeTimers.push(first, steady);
    }
    return store;
  }

  /**
   * One statement outside a transaction (a read, or an idempotent write), once more on a fresh
   * connection if the pooled one died with a restarted server.
   */
  private async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    try {
      return await this.pool.query(sql, params);
    } catch (e) {
      if (!connectionLost(e) || this.closed) throw e;
      return this.pool.query(sql, params);
    }
  }

  /** The windows a decision reads sums over, from its clock (as caps.ts and confirm.ts do). */
  private windows(scope: LedgerScope) {
    const c = scope.confirm;
    return {
      day: scope.now - DAY_MS,
      confirm: c ? scope.now - c.windowMs : 0,
      cooldown: c ? scope.now - c.cooldownMs : 0,
      hour: scope.now - HOUR_MS,
    };
  }

  /** VIEW_SQL's parameters: what this decision reads, and only that. */
  private viewParams(scope: LedgerScope): unknown[] {
    // Window starts as whole milliseconds (entries' times are): \`at >= ceil(t)\` is \`at >= t\`.
    const w = Object.fromEntries(
      Object.entries(this.windows(scope)).map(([k, v]) => [k, Math.ceil(v)]),
    ) as ReturnType<PgStore['windows']>;
    const money = scope.fingerprint !== undefined;
    const l = scope.limits;
    return [
      scope.agentKey ?? null,
      scope.fingerprint ?? null,
      scope.meaning ?? null,
      scope.ids.includes(scope.customer) ? scope.ids : [scope.customer, ...scope.ids],
      Math.ceil(scope.now - this.horizonMs),
      scope.customer,
      w.day,
      money && l?.maxPointsPerCustomerPerDay !== undefined,
      money && everyone(scope),
      money && scope.confirm?.above !== undefined,
      w.confirm,
      w.cooldown,
      !money && l?.maxCodesPerCustomerPerHour !== undefined,
      w.hour,
      scope.approval ?? null,
    ];
  }

  /**
   * Runs a decision on the view, reading from the database what it asks for beyond it (when a
   * sum frees up, for a refusal) with `query` (the reserve step's transaction, or the pool).
   */
  private async decideOn<T>(
    run: (view: LedgerView) => T,
    rows: ViewRow[],
    scope: LedgerScope,
    query: (sql: string, params: unknown[]) => Promise<pg.QueryResult>,
  ): Promise<T> {
    const view = new ScopedView(scope, this.windows(scope), rows);
    for (let i = 0; ; i++) {
      try {
        return run(view);
      } catch (e) {
        if (!(e instanceof NeedFreed) || i >= 8) throw e;
        const r = await query(freedSql(e.measure), [e.customer ?? null, e.since, e.excess]).catch((err) => {
          throw Object.assign(err as object, { [FROM_DB]: true });
        });
        view.freed.set(e.key, r.rows[0] ? Number(r.rows[0].at) : undefined);
      }
    }
  }

  /**
   * The atomic step in two round trips: BEGIN, the locks and the view in one; the pending entry
   * and COMMIT (or a ROLLBACK) in the other. Run again on a serialization failure, a deadlock or
   * a key claimed by a racing transaction; a refusal by `decide` ends it at once.
   */
  async reserve(decide: (view: LedgerView) => Decision, scope: LedgerScope): Promise<Decision> {
    await this.flush();
    const locks = [...new Set([scope.customer, ...scope.ids])].map((i) => `id:${i}`);
    if (scope.agentKey) locks.push(`key:${scope.agentKey}`);
    // The per-server cap counts every customer's spending: its decisions take turns, all of them.
    if (scope.fingerprint !== undefined && everyone(scope)) locks.push('server-cap');
    const params = this.viewParams(scope);
    const open = `BEGIN; ${inline(LOCK_SQL, [locks])}; ${inline(viewSql(params), params)}`;
    let reconnected = false;
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      let d: Decision | undefined;
      let committing = false;
      try {
        const read = (await c.query(open)) as unknown as pg.QueryResult[];
        try {
          d = await this.decideOn(decide, read[2].rows, scope, (sql, p) => c.query(sql, p));
        } catch (refusal) {
          // The database failing to answer what the decision asked for is not a refusal.
          if ((refusal as Record<symbol, unknown>)?.[FROM_DB]) throw refusal;
          await c.query('ROLLBACK');
          c.release();
          throw Object.assign(refusal as object, { [DECIDED]: true });
        }
        if (d.kind === 'send') {
          committing = true;
          await c.query(`${inline(d.resent ? UPSERT_SQL : INSERT_SQL, row(d.entry))}; COMMIT`);
        } else await c.query('ROLLBACK');
        c.release();
        return d;
      } catch (e) {
        if ((e as Record<symbol, unknown>)[DECIDED]) throw e;
        const lost = connectionLost(e);
        if (lost) c.release(e as Error);
        else {
          await c.query('ROLLBACK').catch(() => {});
          c.release();
        }
        // A commit sent on a connection that died may or may not have landed.
        if (committing && lost && d?.kind === 'send') this.keep(endedUnsent(d, this.now()), true);
        const code = (e as { code?: string }).code ?? '';
        // A connection lost before the commit is tried once more on a fresh one (a restarted
        // server); the transaction it was in is gone with it.
        const again = RETRY.has(code) || (lost && !committing && !reconnected);
        if (lost) reconnected = true;
        if (again && attempt < MAX_TRIES && !this.closed) {
          await sleep(Math.random() * 5 * attempt);
          continue;
        }
        throw e;
      }
    }
  }

  async peek<T>(look: (view: LedgerView) => T, scope: LedgerScope): Promise<T> {
    await this.flush();
    const rows = (await this.query(VIEW_SQL, this.viewParams(scope))).rows;
    return this.decideOn(look, rows, scope, (sql, p) => this.query(sql, p));
  }

  async refresh() {}

  async latest(fp: string) {
    const r = await this.query(
      'SELECT entry FROM capillary_ledger WHERE fingerprint = $1 AND kind IS NULL AND at >= $2 ORDER BY at DESC LIMIT 1',
      [fp, this.now() - this.horizonMs],
    );
    return r.rows[0]?.entry as LedgerEntry | undefined;
  }

  async byKey(key: string) {
    const r = await this.query(
      `SELECT entry FROM capillary_ledger WHERE key = $1 AND kind IS NULL AND (at >= $2 OR status IN ('pending', 'unknown'))`,
      [key, this.now() - this.horizonMs],
    );
    return r.rows[0]?.entry as LedgerEntry | undefined;
  }

  async put(entry: LedgerEntry) {
    await this.query(UPSERT_SQL, row(atTheDoor(entry, this.redactor)));
  }

  /**
   * Records an outcome; if the database cannot take it now, it is kept and retried. Committed
   * without waiting for the WAL flush, like the file ledger's outcome lines (on disk one group
   * commit later): a database crash in that gap leaves the pending entry, read back as unknown.
   */
  async settle(entry: LedgerEntry) {
    const e = atTheDoor(entry, this.redactor);
    try {
      await this.flush();
      await this.query(settleSql(e));
    } catch (err) {
      this.keep(e, false);
      throw err;
    }
  }

  async spentSince(customer: string, since: number) {
    const r = await this.query(SPENT_SQL, [customer, since]);
    return Number(r.rows[0].spent);
  }

  async unresolvedAll() {
    await this.flush();
    return (await this.query(OPEN_SQL)).rows.map((r) => r.entry as LedgerEntry);
  }

  async recent(since: number, { limit = 1_000_000, meaning }: RecentOptions = {}) {
    await this.flush();
    const from = Math.max(since, this.now() - this.horizonMs);
    const r = await (meaning === undefined
      ? this.query(RECENT_SQL, [from, limit])
      : this.query(RECENT_BY_MEANING_SQL, [from, limit, meaning]));
    return r.rows.map((x) => x.entry as LedgerEntry);
  }

  async answerOnce(entry: LedgerEntry) {
    const r = await this.query(ANSWER_ONCE_SQL, row(atTheDoor(entry, this.redactor)));
    return (r.rowCount ?? 0) === 1;
  }

  /** Whether a statement runs now; cached for a second so probes cannot load the database. */
  health(): Promise<LedgerHealth> {
    const t = Date.now();
    if (!this.health_ || t - this.health_.at > 1_000) {
      const value = this.query('SELECT 1').then(
        () => ({ ok: true }),
        () => ({ ok: false, reason: 'the PostgreSQL ledger is unreachable' }),
      );
      this.health_ = { at: t, value };
    }
    return this.health_.value;
  }

  /** Writes kept in this process, not yet in the database. */
  get backlog(): number {
    return this.unwritten.size;
  }

  private keep(entry: LedgerEntry, voidOnly: boolean): void {
    const prev = this.unwritten.get(entry.key);
    // An outcome beats the ending of an ambiguous commit for the same attempt.
    if (prev && !prev.voidOnly && voidOnly) return;
    this.unwritten.set(entry.key, { entry, voidOnly });
    if (!this.retryTimer) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      if (this.retryTimer === t) this.retryTimer = undefined;
      this.flush().then(
        () => {
          if (this.unwritten.size) this.scheduleRetry();
        },
        () => this.scheduleRetry(),
      );
    }, 1_000);
    t.unref();
    this.retryTimer = t;
  }

  /** Writes what earlier failed to write; rejects while the database is still away. */
  private async flush(): Promise<void> {
    for (const [key, w] of [...this.unwritten]) {
      const e = w.entry;
      if (w.voidOnly)
        await this.query(VOID_SQL, [e.key, e.owner ?? null, e.at, e.status, e.updated, JSON.stringify(e)]);
      else await this.query(settleSql(e));
      if (this.unwritten.get(key) === w) this.unwritten.delete(key);
      if (!w.voidOnly)
        this.log('info', 'ledger: an outcome kept while PostgreSQL was away is written', { key });
    }
  }

  /**
   * Deletes settled entries older than the horizon, in batches; unsettled attempts stay at any
   * age. One replica at a time (a tried lock). Returns how many were deleted.
   */
  async purge(): Promise<number> {
    const c = await this.pool.connect();
    let lost: Error | undefined;
    try {
      const got = await c.query('SELECT pg_try_advisory_lock($1) AS ok', [PURGE_LOCK]);
      if (!got.rows[0].ok) return 0;
      try {
        let total = 0;
        const cutoff = this.now() - this.horizonMs;
        for (;;) {
          const r = await c.query(PURGE_SQL, [cutoff, PURGE_BATCH]);
          total += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < PURGE_BATCH || this.closed) break;
        }
        // Running sums no window reads any longer (a day of margin for replicas' clocks).
        await c.query(PURGE_SUMS_SQL, [Math.floor(cutoff - DAY_MS)]);
        return total;
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [PURGE_LOCK]);
      }
    } catch (e) {
      lost = e as Error;
      throw e;
    } finally {
      c.release(lost && connectionLost(lost) ? lost : undefined);
    }
  }

  private async purgeQuietly(): Promise<void> {
    if (this.closed) return;
    try {
      const n = await this.purge();
      if (n) this.log('info', `ledger: purged ${n} settled entries past the horizon`);
    } catch (e) {
      this.log('warn', 'ledger: purge failed; retried later', { error: (e as Error).message });
    }
  }

  async close() {
    if (this.closed) return;
    for (const t of this.purgeTimers) clearTimeout(t);
    clearTimeout(this.retryTimer);
    try {
      await this.flush();
    } catch (e) {
      const keys = [...this.unwritten.keys()];
      this.log('error', 'ledger: outcomes not written before exit; these attempts read back as unknown', {
        keys,
        error: (e as Error).message,
      });
    }
    this.closed = true;
    await this.pool.end();
  }
}
