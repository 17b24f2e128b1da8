import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ToolErrorBody } from '../errors.js';
import { DurableAppender, type Until } from './appender.js';
import { DirLock, ownerGone, PROCESS_OWNER } from './dir-lock.js';
import type { Decision, LedgerView } from './reserve.js';
import { RollingSums } from './sums.js';

export type LedgerStatus = 'pending' | 'succeeded' | 'failed' | 'unknown';

/** A human's answer to a confirmation question. */
export type HumanAnswer = 'accept' | 'decline' | 'cancel';

/** The customer name under which every customer's points are summed (the per-server cap). */
export const ALL = '*';

export interface LedgerEntry {
  /**
   * What the line records: a money attempt (absent), a human's answer to a confirmation
   * question (`answer`), or a validation code sent to a customer (`code`). Answers and codes
   * carry status "succeeded" and 0 points, so that an earlier version reading them counts nothing.
   */
  kind?: 'answer' | 'code';
  /** The idempotency key sent upstream (external_reference_number); an answer's question id. */
  key: string;
  /** Hash of the tool and its canonical arguments. */
  fingerprint: string;
  /** Hash of the operation by meaning (customer, what moves, agent key); see Operation. */
  meaning?: string;
  tool: string;
  customer: string;
  /** Points spent by this attempt, counted against the caps (0 for reversals). */
  points: number;
  /** Points moved for the customer, counted against the confirmation budget, when they differ
   * from `points` (a reversal); "all" for a reversal of everything left. */
  moved?: number | 'all';
  /** The question whose "yes" this attempt spends (one attempt per yes). */
  approval?: string;
  /** An answer line: what the human said, and when the question was asked for (`at`). */
  answer?: HumanAnswer;
  status: LedgerStatus;
  /** When the attempt started (ms since epoch). */
  at: number;
  updated: number;
  /** True when the agent chose the key. */
  agent_key: boolean;
  /** When the operation was first sent (a re-send moves `at`, never this). */
  first_at?: number;
  /** The process that wrote the entry ("host:pid:nonce"), to tell in-flight from abandoned. */
  owner?: string;
  /** Every identifier of the customer the call named (normalised), so that an unsettled attempt
   * blocks the customer under any of them. */
  ids?: string[];
  /** Who settled an unknown attempt by hand, and why (`capillary-loyalty-mcp settle`). */
  settled_by?: string;
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
  /**
   * The one atomic step (see reserve.ts): runs `decide` on the ledger as it is at this moment,
   * other processes' lines included, and writes the pending entry it returns, so that no other
   * writer can decide in between. Resolves once that entry is durable; nothing is sent before.
   */
  reserve(decide: (view: LedgerView) => Decision): Promise<Decision>;
  /** Runs `look` on the ledger as it is now, writing nothing (a check before asking a human). */
  peek<T>(look: (view: LedgerView) => T): Promise<T>;
  close(): Promise<void>;
}

/**
 * A pending entry found at start-up whose writer is gone (or unknown: an earlier version) was cut
 * off by a crash: its outcome is unknown. A live writer's pending entry is still being sent.
 */
const abandoned = (e: LedgerEntry) => e.status === 'pending' && (!e.owner || ownerGone(e.owner));

/** The identities an entry blocks under: its customer key and every identifier the call named. */
const idsOf = (e: LedgerEntry): string[] => (e.ids?.length ? [e.customer, ...e.ids] : [e.customer]);

/** An attempt whose outcome is not known yet. */
const open = (e: LedgerEntry) => e.status === 'pending' || e.status === 'unknown';

const NOTHING = Buffer.alloc(0);
/** Bytes read from the ledger file at a time. */
const READ_CHUNK = 1 << 20;

/** Caps look back 24 h; replays look back the idempotency window. */
export const DEFAULT_HORIZON_MS = 86_400_000;

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
class Index implements LedgerView {
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
  /** The newest "no" (decline or cancel) under each identity of the customer. */
  private readonly declines = new Map<string, LedgerEntry>();
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
    else this.applyAttempt(e);
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

  private prune(): void {
    const cutoff = this.now() - this.horizonMs;
    while (this.head < this.order.length && this.order[this.head].at < cutoff) {
      const old = this.order[this.head++];
      for (const m of this.measures) for (const n of m.names(old)) m.sums.prune(n, cutoff);
      if (old.kind === 'answer') {
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
    return newest;
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
  async close() {}
}

const DAY_MS = 86_400_000;
/** The single ledger file of earlier versions: read whole at start if present, never written. */
export const LEGACY_LEDGER = 'ledger.jsonl';
const SEGMENT = /^ledger-(\d{4}-\d{2}-\d{2})\.jsonl$/;

/** The UTC day number (days since the epoch) of a time in ms. */
const dayOf = (ms: number) => Math.floor(ms / DAY_MS);
/** The segment file for a UTC day number: `ledger-YYYY-MM-DD.jsonl`. */
const segmentOf = (day: number) => `ledger-${new Date(day * DAY_MS).toISOString().slice(0, 10)}.jsonl`;
/** The segment file lines written at this time (ms since epoch) go to. */
export const segmentName = (ms: number) => segmentOf(dayOf(ms));
/** The UTC day number of a segment's file name; undefined for any other name. */
function dayOfName(name: string): number | undefined {
  const m = SEGMENT.exec(name);
  if (!m) return undefined;
  const t = Date.parse(`${m[1]}T00:00:00Z`);
  if (!Number.isFinite(t) || segmentOf(t / DAY_MS) !== name) return undefined;
  return t / DAY_MS;
}

/** The ledger's files in a folder, in read order: legacy `ledger.jsonl`, then segments by date. */
function ledgerNames(dir: string, fromDay = Number.NEGATIVE_INFINITY): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const segments = names
    .filter((n) => {
      const day = dayOfName(n);
      return day !== undefined && day >= fromDay;
    })
    .sort((a, b) => dayOfName(a)! - dayOfName(b)!);
  return names.includes(LEGACY_LEDGER) ? [LEGACY_LEDGER, ...segments] : segments;
}

/** Every ledger file in a data dir (older segments too), in the order they are read. */
export const ledgerFiles = (dir: string): string[] => ledgerNames(dir).map((n) => join(dir, n));

/** Creates a file if missing, and makes its directory entry durable before any line relies on it. */
function createDurably(dir: string, path: string): boolean {
  if (existsSync(path)) return false;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    // Platforms and file systems that cannot fsync a directory (Windows, some network mounts).
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (!['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP', 'EACCES', 'EBADF'].includes(code)) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return true;
}

/** One ledger file being read: how far, and how much of it this process wrote. */
interface Segment {
  name: string;
  /** UTC day number; -Infinity for the legacy file (read first, never retired). */
  day: number;
  /** Kept open: refresh() runs before every money call. */
  fd: number;
  offset: number;
  /** This process's byte count in the file when `offset` was last advanced. */
  ownAtOffset: number;
  /** The start of a line another writer has not finished yet. */
  partial: Buffer;
  /** Bytes written here by this process's earlier appenders (the clock went back and forth). */
  ownClosed: number;
  /** The appender writing to this file, if this process writes here now. */
  appender?: DurableAppender;
}

/**
 * Append-only JSONL ledger in daily segments (`ledger-YYYY-MM-DD.jsonl`, by the UTC date when a
 * line is written), fsync'd (group commit) before any request is sent. Start-up reads only the
 * segments that can hold an entry within the horizon (one extra day of margin for clock skew),
 * plus a legacy `ledger.jsonl` whole. Entries left pending by a crash are read back as unknown.
 * Other processes sharing the folder are picked up by refresh(), which reads only what was
 * appended to each file since the last read; the segments of yesterday, today and tomorrow are
 * looked for by name, so one another process starts is found too. An attempt's pending and
 * outcome lines may be in different segments (midnight): files are applied in date order.
 */
export class FileStore implements IdempotencyStore {
  private readonly idx: Index;
  /** Files being read, in read order (legacy first, then by date). */
  private files: Segment[] = [];
  private readonly byName = new Map<string, Segment>();
  /** The appender for new lines and its segment's day. */
  private current?: { day: number; appender: DurableAppender };
  /** Appenders of earlier segments still flushing. */
  private readonly closing = new Set<Promise<void>>();
  /** The day the look-up by name and the retiring of old files last ran for. */
  private checkedDay = Number.NaN;
  /** Lines that could not be read (a torn last write after a crash). */
  skipped = 0;
  /** Shared by every process using this data dir, for the one atomic step. */
  private readonly lock: DirLock;

  /**
   * `alone`: whether the caller has no other money call in flight (see DurableAppender).
   * `now`: the clock, for segment dates and the horizon (replaceable in tests).
   */
  constructor(
    readonly dir: string,
    private readonly horizonMs = DEFAULT_HORIZON_MS,
    private readonly alone?: () => boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.idx = new Index(horizonMs, now);
    this.lock = new DirLock(join(dir, 'ledger.lock'), PROCESS_OWNER);
    try {
      // The newest segment before the horizon too: it holds every attempt still unsettled then
      // (each new segment starts with a copy of them), whatever its age.
      const oldest = this.oldestDay(now());
      const names = ledgerNames(dir);
      const before = names.filter((n) => n !== LEGACY_LEDGER && dayOfName(n)! < oldest).pop();
      for (const name of names)
        if (name === LEGACY_LEDGER || name === before || dayOfName(name)! >= oldest) this.track(name);
      for (const s of this.files) this.readFile(s, true);
    } catch (e) {
      this.closeReaders();
      throw e;
    }
    for (const e of this.idx.keyMap.values()) if (abandoned(e)) e.status = 'unknown';
  }

  /** The segment lines written now go to. */
  get path(): string {
    return join(this.dir, segmentOf(this.current?.day ?? dayOf(this.now())));
  }

  /** The oldest segment that can hold an entry within the horizon, with a day of margin. */
  private oldestDay(now: number): number {
    return dayOf(now - this.horizonMs) - 1;
  }

  private track(name: string): Segment {
    const fd = openSync(join(this.dir, name), 'r');
    const s: Segment = {
      name,
      day: name === LEGACY_LEDGER ? Number.NEGATIVE_INFINITY : dayOfName(name)!,
      fd,
      offset: 0,
      ownAtOffset: 0,
      partial: NOTHING,
      ownClosed: 0,
    };
    this.byName.set(name, s);
    this.files.push(s);
    this.files.sort((a, b) => a.day - b.day);
    return s;
  }

  /** Opens yesterday's, today's and tomorrow's segments once they exist; closes ones too old. */
  private lookAround(now: number): void {
    const today = dayOf(now);
    if (today !== this.checkedDay) {
      this.checkedDay = today;
      const oldest = this.oldestDay(now);
      // The legacy file stays open: a server of an earlier version may still append to it.
      const old = this.files.filter((f) => f.name !== LEGACY_LEDGER && f.day < oldest && !f.appender);
      for (const s of old) {
        closeSync(s.fd);
        this.byName.delete(s.name);
        this.files = this.files.filter((f) => f !== s);
      }
    }
    for (let day = today - 1; day <= today + 1; day++) {
      const name = segmentOf(day);
      // A stat, not a failed open, for a segment nobody has started yet: no exception per call.
      if (this.byName.has(name) || !existsSync(join(this.dir, name))) continue;
      try {
        this.track(name);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  private readFile(s: Segment, startup: boolean): void {
    const fd = s.fd;
    const size = fstatSync(fd).size;
    // Only this process's own lines arrived since the last read (the file grew by exactly what
    // its appenders wrote): they are in the index already, from put() and settle().
    const own = s.ownClosed + (s.appender?.bytesWritten ?? 0);
    if (!startup && !s.partial.length && size === s.offset + (own - s.ownAtOffset)) {
      s.offset = size;
      s.ownAtOffset = own;
      return;
    }
    s.ownAtOffset = own;
    if (size <= s.offset) return;
    // In chunks, split on newline bytes (never part of a multi-byte UTF-8 character): a ledger of
    // any size is read without holding it in memory, and only entries within the horizon are kept.
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - s.offset));
    while (s.offset < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - s.offset), s.offset);
      if (n <= 0) break;
      s.offset += n;
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl !== -1 && nl < n; nl = buf.indexOf(0x0a, start)) {
        const piece = buf.subarray(start, nl);
        const line = s.partial.length ? Buffer.concat([s.partial, piece]) : piece;
        s.partial = NOTHING;
        this.readLine(line.toString('utf8'), startup);
        start = nl + 1;
      }
      if (start < n) s.partial = Buffer.concat([s.partial, buf.subarray(start, n)]);
    }
    if (startup && s.partial.length) {
      // A torn final line (crash mid-write) was never fsync'd, so nothing was sent for it.
      this.skipped++;
      s.partial = NOTHING;
    }
  }

  private readLine(line: string, startup: boolean): void {
    if (!line.trim()) return;
    try {
      const e = JSON.parse(line) as LedgerEntry;
      if (typeof e.key !== 'string' || typeof e.fingerprint !== 'string') throw new Error('shape');
      // A pending entry found at start-up was cut off by a crash: its outcome is unknown.
      this.idx.apply(startup && abandoned(e) ? { ...e, status: 'unknown' } : e);
    } catch {
      this.skipped++;
    }
  }

  /**
   * The appender for a line written now: today's segment. A clock stepped back less than a day
   * keeps writing to the newer segment (still looked for by every reader), so this process's
   * lines stay in write order across files; any other change of date switches segments.
   */
  private writer(): DurableAppender {
    const today = dayOf(this.now());
    const cur = this.current;
    if (cur && (cur.day === today || cur.day === today + 1)) return cur.appender;
    const name = segmentOf(today);
    const created = createDurably(this.dir, join(this.dir, name));
    const seg = this.byName.get(name) ?? this.track(name);
    const appender = new DurableAppender(join(this.dir, name), undefined, this.alone);
    if (seg.appender) seg.ownClosed += seg.appender.bytesWritten;
    seg.appender = appender;
    if (cur) {
      const old = this.byName.get(segmentOf(cur.day));
      if (old?.appender === cur.appender) {
        old.ownClosed += cur.appender.bytesWritten;
        old.appender = undefined;
      }
      // Flushes and closes the earlier segment: its waiting lines still get their fsync.
      const closing: Promise<void> = cur.appender
        .close()
        .catch(() => {})
        .finally(() => this.closing.delete(closing));
      this.closing.add(closing);
    }
    this.current = { day: today, appender };
    // A new segment starts with the attempts still unsettled, so that start-up, which reads back
    // only as far as the horizon (and the newest segment before it), always finds them.
    if (created) for (const e of this.idx.allUnresolved()) void appender.append(JSON.stringify(e), 'written');
    return appender;
  }

  async refresh() {
    this.refreshNow();
  }
  private refreshNow(): void {
    this.lookAround(this.now());
    for (const s of this.files) this.readFile(s, false);
  }
  async reserve(decide: (view: LedgerView) => Decision) {
    let written: Promise<void> | undefined;
    // Under the data dir's lock: other processes' lines read, the decision taken and the
    // pending entry written, with nothing between. Its fsync is awaited after the lock is
    // released (a reader sees the line at once; nothing is sent before it is on disk).
    const d = await this.lock.run(() => {
      this.refreshNow();
      const d = decide(this.idx);
      if (d.kind === 'send') written = this.record(d.entry, 'synced');
      return d;
    });
    await written;
    return d;
  }
  /** Every attempt whose outcome is not known, at any age (the operator's list). */
  unresolvedAll(): LedgerEntry[] {
    this.refreshNow();
    return this.idx.allUnresolved();
  }
  async peek<T>(look: (view: LedgerView) => T) {
    this.refreshNow();
    return look(this.idx);
  }
  async latest(fp: string) {
    return this.idx.byFp.get(fp);
  }
  async byKey(key: string) {
    return this.idx.byKey(key);
  }
  put(e: LedgerEntry) {
    return this.record(e, 'synced');
  }
  settle(e: LedgerEntry) {
    return this.record(e, 'written');
  }
  private async record(e: LedgerEntry, until: Until) {
    const appender = this.writer();
    const before = appender.lines;
    const done = appender.append(JSON.stringify(e), until);
    // Indexed once the line is in the file, as another process reading the file would see it;
    // the caller still waits for `until`.
    if (appender.lines > before) this.idx.apply({ ...e });
    await done;
  }
  async spentSince(c: string, since: number) {
    return this.idx.spentSince(c, since);
  }

  private closeReaders(): void {
    for (const s of this.files) closeSync(s.fd);
    this.files = [];
    this.byName.clear();
  }

  async close() {
    await this.current?.appender.close();
    while (this.closing.size) await Promise.all([...this.closing]);
    this.closeReaders();
  }
}
