/**
 * Running sums over rolling windows, kept beside the ledger's index, so that a cap or a budget
 * is read in amortised O(1) per call, not by scanning a customer's entries.
 *
 * Each name (a customer key, or ALL for every customer) holds its entries sorted by time, and a
 * cursor: the total of every entry at or after the cursor's time. Asking for a later window
 * start moves the cursor forward, subtracting what it passes; asking for an earlier one (a clock
 * set back) moves it back, adding. An entry that changes (an outcome settled, a re-send moving
 * it to the time of its latest send) changes the total by the difference, found by a binary
 * search on its time. Entries older than the ledger's horizon are dropped from the front.
 */

interface Timed {
  at: number;
  key: string;
}

interface Bucket<E> {
  items: E[];
  /** The first entry not yet dropped. */
  lo: number;
  /** The first entry at or after `since`: the total covers items[head..]. */
  head: number;
  since: number;
  /** Sum of amount() over items[head..]. */
  total: number;
}

/** Everything before this is dropped once it is more than half the array (and long). */
const COMPACT_AT = 1024;

export class RollingSums<E extends Timed> {
  private readonly buckets = new Map<string, Bucket<E>>();

  /** `amount`: what one entry adds, a whole number (points in thousandths, or a count). */
  constructor(private readonly amount: (e: E) => number) {}

  /** Adds `e` under `name`, replacing `old` (the same attempt's previous line) if given. */
  put(name: string, e: E, old?: E): void {
    let b = this.buckets.get(name);
    if (!b) {
      b = { items: [], lo: 0, head: 0, since: Number.NEGATIVE_INFINITY, total: 0 };
      this.buckets.set(name, b);
    }
    if (old) {
      const i = this.find(b, old);
      if (i >= 0 && old.at === e.at) {
        // Same time (an outcome settled): in place, the total by the difference.
        if (i >= b.head) b.total += this.amount(e) - this.amount(old);
        b.items[i] = e;
        return;
      }
      if (i >= 0) this.removeAt(b, i);
    }
    let p = b.items.length;
    while (p > b.lo && b.items[p - 1].at > e.at) p--;
    if (p === b.items.length) b.items.push(e);
    else b.items.splice(p, 0, e);
    // Sorted, so an entry before the cursor's time lands before the cursor.
    if (e.at < b.since) b.head++;
    else b.total += this.amount(e);
  }

  /** Removes `e` from `name` (an attempt that moved to another name). */
  remove(name: string, e: E): void {
    const b = this.buckets.get(name);
    if (!b) return;
    const i = this.find(b, e);
    if (i >= 0) this.removeAt(b, i);
  }

  /** The total of the entries under `name` at or after `since`. */
  sum(name: string, since: number): number {
    const b = this.buckets.get(name);
    if (!b) return 0;
    const { items } = b;
    while (b.head < items.length && items[b.head].at < since) b.total -= this.amount(items[b.head++]);
    while (b.head > b.lo && items[b.head - 1].at >= since) b.total += this.amount(items[--b.head]);
    b.since = since;
    return b.total;
  }

  /**
   * The time of the entry whose leaving the window (with every older one) takes at least
   * `excess` off the sum since `since`: the window frees that much once it is older than the
   * window's length. Undefined when the entries in the window hold less than `excess`.
   * Walks the window, so it is for refusals only.
   */
  freedBy(name: string, since: number, excess: number): number | undefined {
    if (excess <= 0) return since;
    this.sum(name, since);
    const b = this.buckets.get(name);
    if (!b) return undefined;
    let acc = 0;
    for (let i = b.head; i < b.items.length; i++) {
      acc += this.amount(b.items[i]);
      if (acc >= excess) return b.items[i].at;
    }
    return undefined;
  }

  /** The oldest entry under `name` at or after `since`, if any. */
  oldest(name: string, since: number): E | undefined {
    this.sum(name, since);
    const b = this.buckets.get(name);
    return b && b.head < b.items.length ? b.items[b.head] : undefined;
  }

  /** Drops the entries under `name` older than `cutoff` (memory: they can change no decision). */
  prune(name: string, cutoff: number): void {
    const b = this.buckets.get(name);
    if (!b) return;
    const { items } = b;
    while (b.lo < items.length && items[b.lo].at < cutoff) {
      if (b.lo >= b.head) {
        b.total -= this.amount(items[b.lo]);
        b.head = b.lo + 1;
      }
      b.lo++;
    }
    if (b.lo === items.length) this.buckets.delete(name);
    else if (b.lo > COMPACT_AT && b.lo * 2 > items.length) {
      b.items = items.slice(b.lo);
      b.head -= b.lo;
      b.lo = 0;
    }
  }

  /** How many names hold entries (for tests of memory bounds). */
  get size(): number {
    return this.buckets.size;
  }

  /** The index of `e` (by identity, else by key) among entries of its time; -1 if gone. */
  private find(b: Bucket<E>, e: E): number {
    const { items } = b;
    let lo = b.lo;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid].at < e.at) lo = mid + 1;
      else hi = mid;
    }
    let byKey = -1;
    for (let i = lo; i < items.length && items[i].at === e.at; i++) {
      if (items[i] === e) return i;
      if (byKey < 0 && items[i].key === e.key) byKey = i;
    }
    return byKey;
  }

  private removeAt(b: Bucket<E>, i: number): void {
    if (i >= b.head) b.total -= this.amount(b.items[i]);
    else b.head--;
    b.items.splice(i, 1);
  }
}
