// The in-memory index both stores share: entries by key, fingerprint and meaning, the unsettled
// attempts at any age, a human's answers, and the running sums the caps and budgets read.
import { ownerGone } from './dir-lock.js';
import type { LedgerEntry, RecentOptions } from './ledger.js';
import type { LedgerView } from './reserve.js';
import { RollingSums } from './sums.js';

/** The customer name under which every customer's points are summed (the per-server cap). */
export const ALL = '*';

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

/** Points as whole thousandths, so that sums carry no float noise. */
const milli = (p: number) => Math.round(p * 1000);
const counts = (e: LedgerEntry) => e.status !== 'failed';
/** A money attempt's points against the caps: pending and unknown attempts count, failed ones not. */
const capAmount = (e: LedgerEntry) => (counts(e) ? milli(e.points) : 0);
/** A money attempt's points against the confirmation budget ("all" is counted apart). */
const movedAmount = (e: LedgerEntry) =>
  counts(e) && e.moved !== 'all' ? milli(typeof e.moved === 'number' ? e.moved : e.points) : 0;
const allAmount = (e: LedgerEntry) => (counts(e) && e.moved === 'all' ? 1 : 0);

/** A running sum and the names an entry is summed under. */
interface Measure {
  sums: RollingSums<LedgerEntry>;
  names(e: LedgerEntry): string[];
}
const money = (e: LedgerEntry) => e.kind === undefined;

/**
 * The in-memory index both stores share. Entries older than the horizon (the longest window any
 * rule looks back: the idempotency window, the 24 h caps, the confirmation window and cooldown)
 * can change no decision, so they are dropped: a long-running server's memory stays bounded by
 * what happened within the horizon. Caps, budgets and the code rate are running sums
 * (sums.ts), so a decision costs the same whatever a customer's history.
 */
export class Index implements LedgerView {
  readonly keyMap = new Map<string, LedgerEntry>();
  /** Attempts whose outcome is not known, by customer then key: kept at any age until settled. */
  private readonly unsettled = new Map<string, Map<string, LedgerEntry>>();
  private readonly openByKey = new Map<string, LedgerEntry>();
  readonly byFp = new Map<string, LedgerEntry>();
  /** The newest entry of each operation by meaning. */
  private readonly byMeaning = new Map<string, LedgerEntry>();
  /** A human's yes, by question id, and the newest yes of each operation by meaning. */
  private readonly approvals = new Map<string, LedgerEntry>();
  private readonly approvalByMeaning = new Map<string, LedgerEntry>();
  /** The attempts (not failed) that spent each yes. */
  private readonly approvalUses = new Map<string, Set<string>>();
  /** The newest "no" (decline or cancel), or lifting of one, under each identity of the customer. */
  private readonly declines = new Map<string, LedgerEntry>();
  /** Every answer by its question's id: a question is answered once (answerOnce). */
  private readonly answers = new Map<string, LedgerEntry>();
  private readonly spent: Measure = {
    sums: new RollingSums(capAmount),
    names: (e) => (money(e) ? [e.customer, ALL] : []),
  };
  private readonly moved: Measure = {
    sums: new RollingSums(movedAmount),
    names: (e) => (money(e) ? [e.customer] : []),
  };
  private readonly movedAll: Measure = {
    sums: new RollingSums(allAmount),
    names: (e) => (money(e) ? [e.customer] : []),
  };
  private readonly codes: Measure = {
    sums: new RollingSums(() => 1),
    names: (e) => (e.kind === 'code' ? [e.customer] : []),
  };
  private readonly measures = [this.spent, this.moved, this.movedAll, this.codes];
  /** Entries in the order they arrived, for pruning; `head` is the first one not yet pruned. */
  private order: LedgerEntry[] = [];
  private head = 0;

  constructor(
    private readonly horizonMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  apply(e: LedgerEntry): void {
    this.prune();
    if (money(e)) this.track(e);
    if (e.at < this.now() - this.horizonMs) return;
    this.order.push(e);
    if (e.kind === 'answer') this.applyAnswer(e);
    else if (e.kind === 'code') this.account(e);
    else if (e.kind !== 'approval') this.applyAttempt(e);
  }

  private applyAttempt(e: LedgerEntry): void {
    const old = this.keyMap.get(e.key);
    this.account(e, old);
    this.useApproval(e, old);
    this.keyMap.set(e.key, e);
    const prev = this.byFp.get(e.fingerprint);
    if (!prev || prev.at <= e.at) this.byFp.set(e.fingerprint, e);
    if (e.meaning) {
      const m = this.byMeaning.get(e.meaning);
      if (!m || m.at <= e.at) this.byMeaning.set(e.meaning, e);
    }
  }

  /** Keeps the running sums current: `e` replaces `old`, the same attempt's previous line. */
  private account(e: LedgerEntry, old?: LedgerEntry): void {
    for (const m of this.measures) {
      const before = old ? m.names(old) : [];
      const after = m.names(e);
      for (const n of before) if (!after.includes(n)) m.sums.remove(n, old!);
      for (const n of after) m.sums.put(n, e, before.includes(n) ? old : undefined);
    }
  }

  /** A yes is spent by an attempt that is not failed: one attempt per yes. */
  private useApproval(e: LedgerEntry, old?: LedgerEntry): void {
    if (old?.approval) this.approvalUses.get(old.approval)?.delete(old.key);
    if (!e.approval || !counts(e)) return;
    let uses = this.approvalUses.get(e.approval);
    if (!uses) {
      uses = new Set();
      this.approvalUses.set(e.approval, uses);
    }
    uses.add(e.key);
  }

  private applyAnswer(e: LedgerEntry): void {
    if (!this.answers.has(e.key)) this.answers.set(e.key, e);
    if (e.answer === 'accept') {
      this.approvals.set(e.key, e);
      const m = e.meaning && this.approvalByMeaning.get(e.meaning);
      if (e.meaning && (!m || m.at <= e.at)) this.approvalByMeaning.set(e.meaning, e);
      return;
    }
    for (const id of idsOf(e)) {
      const d = this.declines.get(id);
      if (!d || d.at <= e.at) this.declines.set(id, e);
    }
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

  /**
   * What a fresh index needs, applied in this order, to come back to this state (the file
   * ledger's snapshot): in the order they arrived, every answer and code within the horizon and
   * every attempt's line still looked up by something. A line another one replaced (a pending
   * entry whose outcome came) is left out: applying the later line alone gives the same keys,
   * sums, approvals and unsettled attempts.
   *
   * A line dated past the horizon is kept only while its attempt is unsettled, and it is the
   * last line of its key (a later one replaces it): it goes just before the next unsettled
   * attempt that is still in the arrival order, so that the unsettled attempts keep their order.
   * A recent attempt settled by such an old line (it touched only the unsettled attempts) gets a
   * closing line, dated 0, after it.
   */
  entries(): LedgerEntry[] {
    const live = new Set<LedgerEntry>();
    for (const m of [this.keyMap, this.byFp, this.byMeaning, this.openByKey])
      for (const e of m.values()) live.add(e);
    const recent = this.order.slice(this.head);
    const inOrder = new Set(recent);
    const before = new Map<LedgerEntry, LedgerEntry[]>();
    let old: LedgerEntry[] = [];
    for (const e of this.openByKey.values()) {
      if (!inOrder.has(e)) old.push(e);
      else if (old.length) {
        before.set(e, old);
        old = [];
      }
    }
    const out: LedgerEntry[] = [];
    for (const e of recent) {
      const first = before.get(e);
      if (first) out.push(...first);
      if (e.kind !== undefined || live.has(e)) out.push(e);
    }
    out.push(...old);
    for (const e of this.keyMap.values())
      if (open(e) && !this.openByKey.has(e.key)) out.push({ ...e, status: 'failed', at: 0, updated: 0 });
    return out;
  }

  private prune(): void {
    const cutoff = this.now() - this.horizonMs;
    while (this.head < this.order.length && this.order[this.head].at < cutoff) {
      const old = this.order[this.head++];
      for (const m of this.measures) for (const n of m.names(old)) m.sums.prune(n, cutoff);
      if (old.kind === 'approval') continue;
      if (old.kind === 'answer') {
        if (this.answers.get(old.key) === old) this.answers.delete(old.key);
        if (this.approvals.get(old.key) === old) {
          this.approvals.delete(old.key);
          this.approvalUses.delete(old.key);
        }
        if (old.meaning && this.approvalByMeaning.get(old.meaning) === old)
          this.approvalByMeaning.delete(old.meaning);
        for (const id of idsOf(old)) if (this.declines.get(id) === old) this.declines.delete(id);
        continue;
      }
      // Only the live entry for a key is removed; an older object for the same key is just skipped.
      if (this.keyMap.get(old.key) === old) this.keyMap.delete(old.key);
      if (this.byFp.get(old.fingerprint) === old) this.byFp.delete(old.fingerprint);
      if (old.meaning && this.byMeaning.get(old.meaning) === old) this.byMeaning.delete(old.meaning);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /** Points counted against the caps since a time: of one customer key, or of everyone (ALL). */
  spentSince(customer: string, since: number): number {
    return this.spent.sums.sum(customer, since) / 1000;
  }
  movedSince(customer: string, since: number): number {
    if (this.movedAll.sums.sum(customer, since) > 0) return Number.POSITIVE_INFINITY;
    return this.moved.sums.sum(customer, since) / 1000;
  }
  codesSince(customer: string, since: number): number {
    return this.codes.sums.sum(customer, since);
  }
  /**
   * When a running sum has freed `amount` (points, or codes): the time of the entry whose leaving
   * the window, with every older one, takes that much off the sum since `since`. Add the
   * window's length for the moment it frees up. Undefined when the window holds less (or, for
   * the moved points, a reversal of "all").
   */
  freedBy(
    measure: 'spent' | 'moved' | 'codes',
    name: string,
    since: number,
    amount: number,
  ): number | undefined {
    if (measure === 'codes') return this.codes.sums.freedBy(name, since, amount);
    if (measure === 'moved' && this.movedAll.sums.sum(name, since) > 0) return undefined;
    return this[measure].sums.freedBy(name, since, milli(amount));
  }
  declinedSince(ids: string[], since: number): LedgerEntry | undefined {
    let newest: LedgerEntry | undefined;
    for (const id of ids) {
      const d = this.declines.get(id);
      if (d && d.at >= since && (!newest || d.at > newest.at)) newest = d;
    }
    // An operator lifted the cooldown after the newest "no".
    return newest?.answer === 'lift' ? undefined : newest;
  }
  /** The answer to a question, by its id. */
  answerTo(id: string): LedgerEntry | undefined {
    return this.answers.get(id);
  }
  /** Entries written at or after `since`, each key's newest line once, newest first. */
  recent(since: number, { limit = Number.POSITIVE_INFINITY, meaning }: RecentOptions = {}): LedgerEntry[] {
    const seen = new Set<string>();
    const out: LedgerEntry[] = [];
    for (let i = this.order.length - 1; i >= this.head && out.length < limit; i--) {
      const e = this.order[i];
      const id = `${e.kind ?? ''}:${e.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      if (e.at >= since && (meaning === undefined || e.meaning === meaning)) out.push(e);
    }
    return out.sort((a, b) => b.at - a.at);
  }
  approval(id: string): LedgerEntry | undefined {
    return this.approvals.get(id);
  }
  approvalFor(meaning: string): LedgerEntry | undefined {
    return this.approvalByMeaning.get(meaning);
  }
  approvalUsed(id: string): boolean {
    return (this.approvalUses.get(id)?.size ?? 0) > 0;
  }
}
