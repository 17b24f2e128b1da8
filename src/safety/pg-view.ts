// What the PostgreSQL ledger reads and writes, as values: the decision's scoped view, an entry
// as a row, SQL literals for a multi-statement round trip, and the ending of an unconfirmed attempt.
import pg from 'pg';
import type { LedgerEntry } from './ledger.js';
import { idsOf } from './ledger-index.js';
import type { Decision, LedgerScope, LedgerView } from './reserve.js';

/** Marks an error thrown by the decision itself (a refusal), not by the database. */
export const DECIDED = Symbol('decided');

/** A value written into a statement as a SQL literal (for a multi-statement round trip). */
function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
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
];

/** The decision's view: what VIEW_SQL read, and nothing else (a read outside it is a bug). */
export class ScopedView implements LedgerView {
  key?: LedgerEntry;
  byFp?: LedgerEntry;
  byMeaning?: LedgerEntry;
  readonly open: LedgerEntry[] = [];
  readonly spent: Array<{ at: number; points: number }> = [];

  constructor(
    private readonly scope: LedgerScope,
    private readonly since: number,
  ) {}

  private outside(what: string): never {
    throw new Error(`ledger view: ${what} is outside the reserve step's scope`);
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
    if (customer !== this.scope.customer || since < this.since) this.outside('spending');
    let thousandths = 0;
    for (const s of this.spent) if (s.at >= since) thousandths += Math.round(s.points * 1000);
    return thousandths / 1000;
  }
}
