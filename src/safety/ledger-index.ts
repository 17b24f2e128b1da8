// The in-memory index both stores share: entries by key, fingerprint, meaning and customer,
// the unsettled attempts at any age, and the sums the caps read.
import { ownerGone } from './dir-lock.js';
import type { LedgerEntry } from './ledger.js';
import type { LedgerView } from './reserve.js';

/** Caps look back 24 h; replays look back the idempotency window. */
export const DEFAULT_HORIZON_MS = 86_400_000;

/**
 * A pending entry found at start-up whose writer is gone (or unknown: an earlier version) was cut
 * off by a crash: its outcome is unknown. A live writer's pending entry is still being sent.
 */
export const abandoned = (e: LedgerEntry) => e.status === 'pending' && (!e.owner || ownerGone(e.owner));

/** The identities an entry blocks under: its customer key and every identifier the call named. */
export const idsOf = (e: LedgerEntry): string[] => (e.ids?.length ? [e.customer, ...e.ids] : [e.customer]);

/**
 * An entry as a store writes it: what it carries from the API (its result and error) passed
 * through the server's secret redactor; the key, fingerprint and customer stay exact (they are
 * what idempotency and the caps are looked up by).
 */
export function atTheDoor(e: LedgerEntry, redactor?: { value<T>(v: T): T }): LedgerEntry {
  return redactor && (e.result || e.error)
    ? { ...e, result: redactor.value(e.result), error: redactor.value(e.error) }
    : e;
}

/** An attempt whose outcome is not known yet. */
export const open = (e: LedgerEntry) => e.status === 'pending' || e.status === 'unknown';

/**
 * The in-memory index both stores share. Entries older than the horizon (the longer of the
 * idempotency window and the 24 h cap window) can change no decision, so they are dropped: a
 * long-running server's memory stays bounded by what happened within the horizon.
 */
export class Index implements LedgerView {
  readonly keyMap = new Map<string, LedgerEntry>();
  /** Attempts whose outcome is not known, by customer then key: kept at any age until settled. */
  private readonly unsettled = new Map<string, Map<string, LedgerEntry>>();
  private readonly openByKey = new Map<string, LedgerEntry>();
  readonly byFp = new Map<string, LedgerEntry>();
  /** The newest entry of each operation by meaning. */
  private readonly byMeaning = new Map<string, LedgerEntry>();
  readonly byCustomer = new Map<string, Set<LedgerEntry>>();
  /** Entries in the order they arrived, for pruning; `head` is the first one not yet pruned. */
  private order: LedgerEntry[] = [];
  private head = 0;

  constructor(
    private readonly horizonMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  apply(e: LedgerEntry): void {
    this.prune();
    this.track(e);
    if (e.at < this.now() - this.horizonMs) return;
    this.order.push(e);
    const old = this.keyMap.get(e.key);
    if (old) this.byCustomer.get(old.customer)?.delete(old);
    this.keyMap.set(e.key, e);
    const prev = this.byFp.get(e.fingerprint);
    if (!prev || prev.at <= e.at) this.byFp.set(e.fingerprint, e);
    if (e.meaning) {
      const m = this.byMeaning.get(e.meaning);
      if (!m || m.at <= e.at) this.byMeaning.set(e.meaning, e);
    }
    let set = this.byCustomer.get(e.customer);
    if (!set) {
      set = new Set();
      this.byCustomer.set(e.customer, set);
    }
    set.add(e);
  }

  /** Keeps the unsettled attempts current: a later line for the same key replaces or ends one. */
  private track(e: LedgerEntry): void {
    const before = this.openByKey.get(e.key);
    if (before) {
      this.openByKey.delete(e.key);
      for (const id of idsOf(before)) {
        const m = this.unsettled.get(id);
        if (m?.delete(e.key) && m.size === 0) this.unsettled.delete(id);
      }
    }
    if (!open(e)) return;
    this.openByKey.set(e.key, e);
    for (const id of idsOf(e)) {
      let m = this.unsettled.get(id);
      if (!m) {
        m = new Map();
        this.unsettled.set(id, m);
      }
      m.set(e.key, e);
    }
  }

  latest(fp: string): LedgerEntry | undefined {
    return this.byFp.get(fp);
  }
  latestByMeaning(meaning: string): LedgerEntry | undefined {
    return this.byMeaning.get(meaning);
  }
  byKey(key: string): LedgerEntry | undefined {
    return this.keyMap.get(key) ?? this.openByKey.get(key);
  }
  unresolved(ids: string[]): LedgerEntry[] {
    const out = new Map<string, LedgerEntry>();
    for (const id of ids) for (const e of this.unsettled.get(id)?.values() ?? []) out.set(e.key, e);
    return [...out.values()];
  }
  /** Every unsettled attempt, for the operator's list. */
  allUnresolved(): LedgerEntry[] {
    return [...this.openByKey.values()];
  }

  private prune(): void {
    const cutoff = this.now() - this.horizonMs;
    while (this.head < this.order.length && this.order[this.head].at < cutoff) {
      const old = this.order[this.head++];
      // Only the live entry for a key is removed; an older object for the same key is just skipped.
      if (this.keyMap.get(old.key) === old) this.keyMap.delete(old.key);
      if (this.byFp.get(old.fingerprint) === old) this.byFp.delete(old.fingerprint);
      if (old.meaning && this.byMeaning.get(old.meaning) === old) this.byMeaning.delete(old.meaning);
      const set = this.byCustomer.get(old.customer);
      if (set?.delete(old) && set.size === 0) this.byCustomer.delete(old.customer);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  spentSince(customer: string, since: number): number {
    let thousandths = 0;
    for (const e of this.byCustomer.get(customer) ?? []) {
      if (e.at >= since && e.status !== 'failed') thousandths += Math.round(e.points * 1000);
    }
    return thousandths / 1000;
  }
}
