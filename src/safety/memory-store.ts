import type { IdempotencyStore, LedgerEntry, RecentOptions } from './ledger.js';
import { DEFAULT_HORIZON_MS, Index } from './ledger-index.js';
import type { Decision, LedgerView } from './reserve.js';

/** Ledger kept in memory only: nothing survives a restart. For benchmarks and throwaway tests. */
export class MemoryStore implements IdempotencyStore {
  private readonly idx: Index;
  constructor(horizonMs = DEFAULT_HORIZON_MS) {
    this.idx = new Index(horizonMs);
  }
  async refresh() {}
  async latest(fp: string) {
    return this.idx.byFp.get(fp);
  }
  async byKey(key: string) {
    return this.idx.byKey(key);
  }
  async put(e: LedgerEntry) {
    this.idx.apply({ ...e });
  }
  async reserve(decide: (view: LedgerView) => Decision) {
    // One synchronous turn: nothing else in the process runs between the decision and the write.
    const d = decide(this.idx);
    if (d.kind === 'send') this.idx.apply({ ...d.entry });
    return d;
  }
  async peek<T>(look: (view: LedgerView) => T) {
    return look(this.idx);
  }
  async settle(e: LedgerEntry) {
    this.idx.apply({ ...e });
  }
  async spentSince(c: string, since: number) {
    return this.idx.spentSince(c, since);
  }
  async unresolvedAll() {
    return this.idx.allUnresolved();
  }
  async recent(since: number, opts?: RecentOptions) {
    return this.idx.recent(since, opts);
  }
  async answerOnce(e: LedgerEntry) {
    if (this.idx.answerTo(e.key)) return false;
    this.idx.apply({ ...e });
    return true;
  }
  async health() {
    return { ok: true };
  }
  async close() {}
}
