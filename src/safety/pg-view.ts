// What the PostgreSQL ledger reads and writes, as values: the decision's scoped view, an entry
// as a row, SQL literals for a multi-statement round trip, and the ending of an unconfirmed attempt.
import pg from 'pg';
import type { LedgerEntry } from './ledger.js';
import { ALL, idsOf } from './ledger-index.js';
import type { Decision, LedgerScope, LedgerView } from './reserve.js';

/** Marks an error thrown by the decision itself (a refusal), not by the database. */
export const DECIDED = Symbol('decided');

/** A value written into a statement as a SQL literal (for a multi-statement round trip). */
function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return String(v);
  }
  if (Array.isArray(v)) return v.length ? `ARRAY[${v.map(literal).join(', ')}]` : `'{}'`;
  return pg.escapeLiteral(String(v));
}

/** A statement with its $n parameters written in as literals. */
export const inline = (sql: string, params: unknown[]) =>
  sql.replace(/\$(\d+)/g, (_, n) => literal(params[Number(n) - 1]));

/** What a pending entry whose commit may not have landed becomes: nothing was sent for it. */
export function endedUnsent(d: Extract<Decision, { kind: 'send' }>, at: number): LedgerEntry {
  // A re-send stays unknown (its earlier attempt's outcome still is).
  if (d.resent) return { ...d.entry, status: 'unknown', updated: at };
  return {
    ...d.entry,
    status: 'failed',
    updated: at,
    error: {
      code: 'ledger_unavailable',
      message: 'the ledger did not confirm this attempt; nothing was sent',
      retryable: true,
      source: 'config',
      outcome: 'not_sent',
    },
  };
}

export const row = (e: LedgerEntry) => [
  e.key,
  e.fingerprint,
  e.meaning ?? null,
  e.customer,
  idsOf(e),
  e.status,
  e.points,
  e.at,
  e.updated,
  e.owner ?? null,
  JSON.stringify(e),
  e.kind ?? null,
  typeof e.moved === 'number' ? e.moved : null,
  e.moved === 'all',
  e.approval ?? null,
  e.answer ?? null,
];

/** A sum of the view: its measure, whose (a customer key, or ALL) and since when. */
const sumKey = (measure: string, name: string, since: number) => `${measure}|${name}|${since}`;

/**
 * Thrown by the view when a decision needs when a sum frees up (a refusal's `frees_at`): the
 * store reads it (pg-schema.ts freedSql, in the same transaction), adds it, and decides again.
 */
export class NeedFreed {
  constructor(
    readonly measure: 'spent' | 'moved' | 'codes',
    /** A customer key, or undefined for everyone. */
    readonly customer: string | undefined,
    readonly since: number,
    /** In the sum's units: thousandths of a point, or codes. */
    readonly excess: number,
    readonly key: string,
  ) {}
}

/** What VIEW_SQL's rows carry: why the row was read, an entry, a number. */
export interface ViewRow {
  why: string;
  entry: LedgerEntry | null;
  n: number | null;
}

/**
 * The decision's view: what VIEW_SQL read, and nothing else (a read outside it is a bug). The
 * same semantics as the in-memory index (ledger-index.ts), from sums computed by the database.
 */
export class ScopedView implements LedgerView {
  key?: LedgerEntry;
  byFp?: LedgerEntry;
  byMeaning?: LedgerEntry;
  readonly open: LedgerEntry[] = [];
  /** Sums by sumKey(): thousandths of a point, or counts. */
  private readonly sums = new Map<string, number>();
  private decline?: LedgerEntry;
  private yes?: LedgerEntry;
  private yesFor?: LedgerEntry;
  private readonly used = new Map<string, boolean>();
  /** freedBy() answers the store read (NeedFreed). */
  readonly freed = new Map<string, number | undefined>();

  constructor(
    private readonly scope: LedgerScope,
    /** The windows VIEW_SQL read from: 24 h, the confirmation window and cooldown, 1 h. */
    private readonly since: { day: number; confirm: number; cooldown: number; hour: number },
    rows: ViewRow[] = [],
  ) {
    for (const { why, entry: e, n } of rows) {
      const num = Number(n);
      if (why === 'k') this.key = e!;
      else if (why === 'f') this.byFp = e!;
      else if (why === 'm') this.byMeaning = e!;
      else if (why === 'u') this.open.push(e!);
      else if (why === 's') this.sums.set(sumKey('spent', scope.customer, since.day), num);
      else if (why === 'S') this.sums.set(sumKey('spent', ALL, since.day), num);
      else if (why === 'v') this.sums.set(sumKey('moved', scope.customer, since.confirm), num);
      else if (why === 'V') this.sums.set(sumKey('movedAll', scope.customer, since.confirm), num);
      else if (why === 'c') this.sums.set(sumKey('codes', scope.customer, since.hour), num);
      else if (why === 'd') this.decline = e!;
      else if (why === 'a' || why === 'y') {
        if (why === 'a') this.yes = e!;
        else this.yesFor = e!;
        this.used.set(e!.key, num > 0);
      }
    }
  }

  private outside(what: string): never {
    throw new Error(`ledger view: ${what} is outside the reserve step's scope`);
  }
  private sum(measure: string, name: string, since: number): number {
    const v = this.sums.get(sumKey(measure, name, since));
    return (
      v ??
      this.outside(
        `the ${measure} sum of ${name === ALL ? 'everyone' : 'another customer'} or since another time`,
      )
    );
  }
  latest(fp: string) {
    return fp === this.scope.fingerprint ? this.byFp : this.outside('fingerprint');
  }
  latestByMeaning(meaning: string) {
    return meaning === this.scope.meaning ? this.byMeaning : this.outside('meaning');
  }
  byKey(key: string) {
    return key === this.scope.agentKey ? this.key : this.outside('key');
  }
  unresolved(ids: string[]) {
    if (ids.some((i) => !this.scope.ids.includes(i))) this.outside('identity');
    return this.open.filter((e) => idsOf(e).some((i) => ids.includes(i)));
  }
  spentSince(customer: string, since: number) {
    return this.sum('spent', customer, since) / 1000;
  }
  movedSince(customer: string, since: number) {
    if (this.sum('movedAll', customer, since) > 0) return Number.POSITIVE_INFINITY;
    return this.sum('moved', customer, since) / 1000;
  }
  codesSince(customer: string, since: number) {
    return this.sum('codes', customer, since);
  }
  freedBy(measure: 'spent' | 'moved' | 'codes', name: string, since: number, amount: number) {
    if (name !== ALL && name !== this.scope.customer) this.outside('another customer');
    if (measure === 'moved' && this.sum('movedAll', name, since) > 0) return undefined;
    const excess = measure === 'codes' ? amount : Math.round(amount * 1000);
    if (excess <= 0) return since;
    const key = `${sumKey(measure, name, since)}|${excess}`;
    if (this.freed.has(key)) return this.freed.get(key);
    throw new NeedFreed(measure, name === ALL ? undefined : name, since, excess, key);
  }
  declinedSince(ids: string[], since: number) {
    if (ids.some((i) => !this.scope.ids.includes(i) && i !== this.scope.customer)) this.outside('identity');
    if (since !== this.since.cooldown) this.outside('a decline since another time');
    // An operator lifted the cooldown after the newest "no".
    return this.decline?.answer === 'lift' ? undefined : this.decline;
  }
  approval(id: string) {
    return id === this.scope.approval ? this.yes : this.outside('approval');
  }
  approvalFor(meaning: string) {
    return meaning === this.scope.meaning ? this.yesFor : this.outside('meaning');
  }
  approvalUsed(id: string) {
    return this.used.get(id) ?? this.outside('approval');
  }
}
