import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ToolErrorBody } from '../errors.js';
import { DurableAppender } from './appender.js';

export type LedgerStatus = 'pending' | 'succeeded' | 'failed' | 'unknown';

export interface LedgerEntry {
  /** The idempotency key sent upstream (external_reference_number). */
  key: string;
  /** Hash of the tool and its canonical arguments. */
  fingerprint: string;
  tool: string;
  customer: string;
  /** Points spent by this attempt (0 for reversals). */
  points: number;
  status: LedgerStatus;
  /** When the attempt started (ms since epoch). */
  at: number;
  updated: number;
  /** True when the agent chose the key. */
  agent_key: boolean;
  /** Redacted structured result of a success, replayed on a repeat. */
  result?: Record<string, unknown>;
  error?: ToolErrorBody;
}

/**
 * The idempotency ledger's interface. Everything above it (the tool pipeline) speaks only to
 * this; a shared store (e.g. Redis) for several replicas implements the same five calls.
 */
export interface IdempotencyStore {
  /** Picks up entries other processes wrote since the last call. */
  refresh(): Promise<void>;
  /** The newest entry with this fingerprint, if any. */
  latest(fingerprint: string): Promise<LedgerEntry | undefined>;
  byKey(key: string): Promise<LedgerEntry | undefined>;
  /** Durably records a new attempt; resolves once it is on disk. Nothing is sent before that. */
  put(entry: LedgerEntry): Promise<void>;
  /**
   * Records an attempt's outcome. Resolves once the record is safe from the process dying; it is
   * on disk one group commit later. Losing it (the machine failing in that gap) leaves the
   * attempt's pending entry, which reads back as unknown: a repeat re-sends the same key.
   */
  settle(entry: LedgerEntry): Promise<void>;
  /** Points spent by a customer since a time: succeeded, pending and unknown attempts count. */
  spentSince(customer: string, since: number): Promise<number>;
  close(): Promise<void>;
}

const NOTHING = Buffer.alloc(0);
/** Bytes read from the ledger file at a time. */
const READ_CHUNK = 1 << 20;

/** Caps look back 24 h; replays look back the idempotency window. */
export const DEFAULT_HORIZON_MS = 86_400_000;

/**
 * The in-memory index both stores share. Entries older than the horizon (the longer of the
 * idempotency window and the 24 h cap window) can change no decision, so they are dropped: a
 * long-running server's memory stays bounded by what happened within the horizon.
 */
class Index {
  readonly byKey = new Map<string, LedgerEntry>();
  readonly byFp = new Map<string, LedgerEntry>();
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
    if (e.at < this.now() - this.horizonMs) return;
    this.order.push(e);
    const old = this.byKey.get(e.key);
    if (old) this.byCustomer.get(old.customer)?.delete(old);
    this.byKey.set(e.key, e);
    const prev = this.byFp.get(e.fingerprint);
    if (!prev || prev.at <= e.at) this.byFp.set(e.fingerprint, e);
    let set = this.byCustomer.get(e.customer);
    if (!set) {
      set = new Set();
      this.byCustomer.set(e.customer, set);
    }
    set.add(e);
  }

  private prune(): void {
    const cutoff = this.now() - this.horizonMs;
    while (this.head < this.order.length && this.order[this.head].at < cutoff) {
      const old = this.order[this.head++];
      // Only the live entry for a key is removed; an older object for the same key is just skipped.
      if (this.byKey.get(old.key) === old) this.byKey.delete(old.key);
      if (this.byFp.get(old.fingerprint) === old) this.byFp.delete(old.fingerprint);
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
    return this.idx.byKey.get(key);
  }
  async put(e: LedgerEntry) {
    this.idx.apply({ ...e });
  }
  async settle(e: LedgerEntry) {
    this.idx.apply({ ...e });
  }
  async spentSince(c: string, since: number) {
    return this.idx.spentSince(c, since);
  }
  async close() {}
}

/**
 * Append-only JSONL ledger, fsync'd (group commit) before any request is sent. Entries left
 * pending by a crash are read back as unknown. Other processes sharing the file are picked up
 * by refresh(), which reads only what was appended since the last read.
 */
export class FileStore implements IdempotencyStore {
  private readonly idx: Index;
  private readonly appender: DurableAppender;
  private offset = 0;
  /** The appender's byte count when `offset` was last advanced. */
  private ownAtOffset = 0;
  /** The start of a line another writer has not finished yet. */
  private partial: Buffer = NOTHING;
  private fd?: number;
  readonly path: string;
  /** Lines that could not be read (a torn last write after a crash). */
  skipped = 0;

  /** `alone`: whether the caller has no other money call in flight (see DurableAppender). */
  constructor(dir: string, horizonMs = DEFAULT_HORIZON_MS, alone?: () => boolean) {
    this.idx = new Index(horizonMs);
    this.path = join(dir, 'ledger.jsonl');
    this.appender = new DurableAppender(this.path, undefined, alone);
    this.readNew(true);
  }

  private readNew(startup: boolean): void {
    if (this.fd === undefined) {
      if (!existsSync(this.path)) return;
      // Kept open: refresh() runs before every money call.
      this.fd = openSync(this.path, 'r');
    }
    const fd = this.fd;
    const size = fstatSync(fd).size;
    // Only this process's own lines arrived since the last read (the file grew by exactly what
    // the appender wrote): they are in the index already, from put() and settle().
    const own = this.appender.bytesWritten;
    if (!startup && !this.partial.length && size === this.offset + (own - this.ownAtOffset)) {
      this.offset = size;
      this.ownAtOffset = own;
      return;
    }
    this.ownAtOffset = own;
    if (size <= this.offset) return;
    // In chunks, split on newline bytes (never part of a multi-byte UTF-8 character): a ledger of
    // any size is read without holding it in memory, and only entries within the horizon are kept.
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - this.offset));
    while (this.offset < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
      if (n <= 0) break;
      this.offset += n;
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl !== -1 && nl < n; nl = buf.indexOf(0x0a, start)) {
        const piece = buf.subarray(start, nl);
        const line = this.partial.length ? Buffer.concat([this.partial, piece]) : piece;
        this.partial = NOTHING;
        this.readLine(line.toString('utf8'), startup);
        start = nl + 1;
      }
      if (start < n) this.partial = Buffer.concat([this.partial, buf.subarray(start, n)]);
    }
    if (startup && this.partial.length) {
      // A torn final line (crash mid-write) was never fsync'd, so nothing was sent for it.
      this.skipped++;
      this.partial = NOTHING;
    }
    if (startup) {
      for (const e of this.idx.byKey.values()) if (e.status === 'pending') e.status = 'unknown';
    }
  }

  private readLine(line: string, startup: boolean): void {
    if (!line.trim()) return;
    try {
      const e = JSON.parse(line) as LedgerEntry;
      if (typeof e.key !== 'string' || typeof e.fingerprint !== 'string') throw new Error('shape');
      // A pending entry found at start-up was cut off by a crash: its outcome is unknown.
      this.idx.apply(startup && e.status === 'pending' ? { ...e, status: 'unknown' } : e);
    } catch {
      this.skipped++;
    }
  }

  async refresh() {
    this.readNew(false);
  }
  async latest(fp: string) {
    return this.idx.byFp.get(fp);
  }
  async byKey(key: string) {
    return this.idx.byKey.get(key);
  }
  async put(e: LedgerEntry) {
    const before = this.appender.lines;
    const durable = this.appender.append(JSON.stringify(e), 'synced');
    // Indexed once the line is in the file, as another process reading the file would see it;
    // the caller still waits until it is on disk.
    if (this.appender.lines > before) this.idx.apply({ ...e });
    await durable;
  }
  async settle(e: LedgerEntry) {
    const before = this.appender.lines;
    const written = this.appender.append(JSON.stringify(e), 'written');
    if (this.appender.lines > before) this.idx.apply({ ...e });
    await written;
  }
  async spentSince(c: string, since: number) {
    return this.idx.spentSince(c, since);
  }
  async close() {
    await this.appender.close();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
