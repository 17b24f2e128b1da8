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
import { DurableAppender, type Until } from './appender.js';
import { DirLock, PROCESS_OWNER } from './dir-lock.js';
import type { IdempotencyStore, LedgerEntry, RecentOptions } from './ledger.js';
import { abandoned, atTheDoor, DEFAULT_HORIZON_MS, Index } from './ledger-index.js';
import type { Decision, LedgerView } from './reserve.js';

const NOTHING = Buffer.alloc(0);
/** Bytes read from the ledger file at a time. */
const READ_CHUNK = 1 << 20;

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
    /**
     * Applied at the file's door to what an entry carries from the API (its result and error);
     * the server passes its secret redactor. The key, fingerprint and customer stay exact: they
     * are what idempotency and the caps are looked up by.
     */
    private readonly redactor?: { value<T>(v: T): T },
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
  async unresolvedAll(): Promise<LedgerEntry[]> {
    this.refreshNow();
    return this.idx.allUnresolved();
  }
  async recent(since: number, opts?: RecentOptions) {
    this.refreshNow();
    return this.idx.recent(since, opts);
  }
  async answerOnce(e: LedgerEntry) {
    let written: Promise<void> | undefined;
    // Under the data dir's lock, as the reserve step: no other process answers in between.
    const fresh = await this.lock.run(() => {
      this.refreshNow();
      if (this.idx.answerTo(e.key)) return false;
      written = this.record(e, 'synced');
      return true;
    });
    await written;
    return fresh;
  }
  async health() {
    return { ok: true };
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
  private async record(entry: LedgerEntry, until: Until) {
    const e = atTheDoor(entry, this.redactor);
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
