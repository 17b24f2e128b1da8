import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fdatasync,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { DurableAppender, type Until } from './appender.js';
import { DirLock, PROCESS_OWNER } from './dir-lock.js';
import type { IdempotencyStore, LedgerEntry, RecentOptions } from './ledger.js';
import {
  createDurably,
  dayOf,
  dayOfName,
  LEGACY_LEDGER,
  ledgerNames,
  segmentOf,
  syncDir,
  writeAll,
} from './ledger-files.js';
import { abandoned, atTheDoor, DEFAULT_HORIZON_MS, Index } from './ledger-index.js';
import {
  openSnapshot,
  removeStaleTemps,
  SNAPSHOT,
  type Trailer,
  tailHash,
  tempName,
  trailerOf,
} from './ledger-snapshot.js';
import type { Decision, LedgerView } from './reserve.js';

export { LEGACY_LEDGER, ledgerFiles, segmentName } from './ledger-files.js';

const NOTHING = Buffer.alloc(0);
/** Bytes read from the ledger file at a time. */
const READ_CHUNK = 1 << 20;
/**
 * Lines appended or read since the last snapshot that make a new one worth writing (in the
 * background). It is at least the last snapshot's size, so writing snapshots costs at most about
 * one entry's serialisation per line, and a start after a crash reads at most that many lines.
 */
const SNAPSHOT_EVERY = 100_000;
/** Lines since the last snapshot that make close() write one (and at least 5% of its size). */
const SNAPSHOT_AT_CLOSE = 1_000;
/** How long a step of a background load runs before the server gets a turn (ms). */
const STEP_MS = 1;
/** Entries serialised per turn of the event loop while a snapshot is written. */
const WRITE_BATCH = 500;

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));
const datasync = (fd: number) =>
  new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));

export interface FileStoreOptions {
  /**
   * Reads the ledger in the background, a chunk per turn of the event loop, instead of in the
   * constructor: the server answers tools/list meanwhile, every ledger call waits for the end.
   */
  background?: boolean;
  /** Loads and writes `ledger.snapshot` (default true). */
  snapshot?: boolean;
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
  private idx: Index;
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
  private readonly snapshots: boolean;
  /** A background load under way, or the error that ended it. */
  private loading?: Promise<void>;
  private failed?: unknown;
  /** How start-up went: from a snapshot or not, and how many ledger lines it read. */
  loadedFrom?: { snapshot: boolean; lines: number };
  /** Lines appended or read since the last snapshot, and the size of that snapshot. */
  private sinceSnapshot = 0;
  private lastSnapshot = 0;
  private snapshotting?: Promise<void>;
  private closed = false;

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
    opts: FileStoreOptions = {},
  ) {
    this.idx = new Index(horizonMs, now);
    this.lock = new DirLock(join(dir, 'ledger.lock'), PROCESS_OWNER);
    this.snapshots = opts.snapshot ?? true;
    try {
      // The newest segment before the horizon too: it holds every attempt still unsettled then
      // (each new segment starts with a copy of them), whatever its age.
      const oldest = this.oldestDay(now());
      const names = ledgerNames(dir);
      const before = names.filter((n) => n !== LEGACY_LEDGER && dayOfName(n)! < oldest).pop();
      for (const name of names)
        if (name === LEGACY_LEDGER || name === before || dayOfName(name)! >= oldest) this.track(name);
      // Each can be read (not a folder, say): a ledger that cannot be read stops the start here,
      // not later in the background.
      for (const s of this.files) readSync(s.fd, Buffer.alloc(1), 0, 1, 0);
    } catch (e) {
      this.closeReaders();
      throw e;
    }
    const steps = this.load();
    if (!opts.background) {
      try {
        while (!steps.next().done);
      } catch (e) {
        this.closeReaders();
        throw e;
      }
      return;
    }
    // In the background, a chunk at a time: tools/list and the like are answered meanwhile;
    // every ledger call waits for the end.
    this.loading = (async () => {
      await yieldToLoop();
      while (!steps.next().done) await yieldToLoop();
    })().then(
      () => {
        this.loading = undefined;
        this.snapshotIfDue();
      },
      (e) => {
        this.failed = e;
        this.loading = undefined;
      },
    );
  }

  /** Resolves once the ledger is read (at once unless it loads in the background); rejects if it could not be. */
  async loaded(): Promise<void> {
    if (this.loading) await this.loading;
    if (this.failed) throw this.failed;
  }

  /**
   * Start-up, one chunk per step: the snapshot if one agrees with the ledger, then every line
   * past what it covers (every line, without one). Unsettled attempts whose writer is gone are
   * read back as unknown.
   */
  private *load(): Generator<void> {
    let fromSnapshot = false;
    if (this.snapshots) {
      removeStaleTemps(this.dir);
      const snap = openSnapshot(this.dir, this.files, this.horizonMs);
      if (snap) {
        try {
          fromSnapshot = yield* this.readSnapshot(snap.fd, snap.trailer);
        } finally {
          closeSync(snap.fd);
        }
        if (fromSnapshot) {
          snap.trailer.files.forEach((c, i) => {
            this.files[i].offset = c.offset;
          });
          this.skipped = snap.trailer.skipped;
          this.lastSnapshot = snap.trailer.entries;
        } else this.idx = new Index(this.horizonMs, this.now);
      }
    }
    let lines = 0;
    for (const s of this.files) lines += yield* this.readChunks(s, true);
    for (const e of this.idx.keyMap.values()) if (abandoned(e)) e.status = 'unknown';
    this.loadedFrom = { snapshot: fromSnapshot, lines };
    // A start that read much of the ledger line by line leaves a snapshot for the next one.
    this.snapshotIfDue();
  }

  /** Starts writing a snapshot in the background once enough lines came since the last one. */
  private snapshotIfDue(): void {
    if (!this.snapshots || this.snapshotting || this.closed || this.loading) return;
    if (this.sinceSnapshot < Math.max(SNAPSHOT_EVERY, this.lastSnapshot)) return;
    this.snapshotting = this.writeSnapshot()
      .catch(() => {
        // Only start-up speed depends on it: the next start reads the ledger's lines instead.
      })
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /**
   * Writes `ledger.snapshot` (see ledger-snapshot.ts): the index's entries as of what the files
   * hold now, a batch per turn of the event loop (the entries are never changed in place, so the
   * cut stays what it was while the server goes on), fsync'd, then renamed over the old one.
   */
  async writeSnapshot(): Promise<void> {
    await this.loaded();
    // The cut: every line of every file up to its offset is in the index, and nothing else.
    this.refreshNow();
    const entries = this.idx.entries();
    const files = this.files.map((s) => {
      const offset = s.offset - s.partial.length;
      return { name: s.name, ino: fstatSync(s.fd).ino, offset, tail: tailHash(s.fd, offset) };
    });
    const fds = this.files.map((s) => s.fd);
    const skipped = this.skipped;
    this.sinceSnapshot = 0;
    // The ledger on disk up to the cut first: a snapshot is never ahead of the durable ledger.
    await Promise.all(fds.map(datasync));
    const tmp = join(this.dir, tempName(PROCESS_OWNER));
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const hash = createHash('sha256');
      let body = 0;
      for (let i = 0; i < entries.length; i += WRITE_BATCH) {
        let text = '';
        for (const e of entries.slice(i, i + WRITE_BATCH)) text += `${JSON.stringify(e)}\n`;
        const buf = Buffer.from(text);
        hash.update(buf);
        writeAll(fd, buf);
        body += buf.length;
        await yieldToLoop();
      }
      const sha256 = hash.digest('hex');
      writeAll(
        fd,
        Buffer.from(
          trailerOf({ horizon: this.horizonMs, files, entries: entries.length, body, sha256, skipped }),
        ),
      );
      await datasync(fd);
      closeSync(fd);
      renameSync(tmp, join(this.dir, SNAPSHOT));
    } catch (e) {
      try {
        closeSync(fd);
      } catch {}
      try {
        unlinkSync(tmp);
      } catch {}
      throw e;
    }
    syncDir(this.dir);
    this.lastSnapshot = entries.length;
  }

  /** Applies a snapshot's entries; false (the index to be thrown away) if its checksum is wrong. */
  private *readSnapshot(fd: number, t: Trailer): Generator<void, boolean> {
    const hash = createHash('sha256');
    let count = 0;
    let bad = false;
    const reader: Segment = {
      name: SNAPSHOT,
      day: 0,
      fd,
      offset: 0,
      ownAtOffset: 0,
      partial: NOTHING,
      ownClosed: 0,
    };
    yield* this.chunks(
      reader,
      t.body,
      (line) => {
        if (bad) return;
        try {
          const e = JSON.parse(line) as LedgerEntry;
          if (typeof e.key !== 'string' || typeof e.fingerprint !== 'string') throw new Error('shape');
          this.idx.apply(abandoned(e) ? { ...e, status: 'unknown' } : e);
          count++;
        } catch {
          bad = true;
        }
      },
      hash,
    );
    return !bad && !reader.partial.length && count === t.entries && hash.digest('hex') === t.sha256;
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
      // The legacy file stays open: a server of an earlier version may still append to it. So
      // does the newest segment before the horizon, which a start reads too (its copies of the
      // attempts unsettled then): a snapshot of this process's files is then one a start trusts.
      const below = this.files.filter((f) => f.name !== LEGACY_LEDGER && f.day < oldest);
      const old = below.filter((f) => f !== below.at(-1) && !f.appender);
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
    const steps = this.readChunks(s, startup);
    while (!steps.next().done);
  }

  /** Reads what was appended to a file since the last read, a chunk per step; the lines read. */
  private *readChunks(s: Segment, startup: boolean): Generator<void, number> {
    const fd = s.fd;
    const size = fstatSync(fd).size;
    // Only this process's own lines arrived since the last read (the file grew by exactly what
    // its appenders wrote): they are in the index already, from put() and settle().
    const own = s.ownClosed + (s.appender?.bytesWritten ?? 0);
    if (!startup && !s.partial.length && size === s.offset + (own - s.ownAtOffset)) {
      s.offset = size;
      s.ownAtOffset = own;
      return 0;
    }
    s.ownAtOffset = own;
    let lines = 0;
    yield* this.chunks(s, size, (line) => {
      lines++;
      this.readLine(line, startup);
    });
    if (startup && s.partial.length) {
      // A torn final line (crash mid-write) was never fsync'd, so nothing was sent for it.
      this.skipped++;
      s.partial = NOTHING;
    }
    return lines;
  }

  /**
   * The lines of a file from its offset up to `size`, read in chunks and split on newline bytes
   * (never part of a multi-byte UTF-8 character): a file of any size is read without holding it
   * in memory. A line not finished yet stays in `partial`. Yields after each chunk.
   */
  private *chunks(s: Segment, size: number, onLine: (line: string) => void, hash?: Hash): Generator<void> {
    if (size <= s.offset) return;
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - s.offset));
    let lines = 0;
    let stepStart = performance.now();
    while (s.offset < size) {
      const n = readSync(s.fd, buf, 0, Math.min(buf.length, size - s.offset), s.offset);
      if (n <= 0) break;
      hash?.update(buf.subarray(0, n));
      s.offset += n;
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl !== -1 && nl < n; nl = buf.indexOf(0x0a, start)) {
        const piece = buf.subarray(start, nl);
        const line = s.partial.length ? Buffer.concat([s.partial, piece]) : piece;
        s.partial = NOTHING;
        onLine(line.toString('utf8'));
        start = nl + 1;
        // A step of a background load stays short (about a millisecond): the server answers
        // between steps.
        if (++lines % 16 === 0 && performance.now() - stepStart >= STEP_MS) {
          yield;
          stepStart = performance.now();
        }
      }
      if (start < n) s.partial = Buffer.concat([s.partial, buf.subarray(start, n)]);
      yield;
      stepStart = performance.now();
    }
  }

  private readLine(line: string, startup: boolean): void {
    if (!line.trim()) return;
    this.sinceSnapshot++;
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
    if (this.loading || this.failed) await this.loaded();
    this.refreshNow();
  }
  private refreshNow(): void {
    this.lookAround(this.now());
    for (const s of this.files) this.readFile(s, false);
  }
  async reserve(decide: (view: LedgerView) => Decision) {
    if (this.loading || this.failed) await this.loaded();
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
    if (this.loading || this.failed) await this.loaded();
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
    // While it loads, calls wait for it: still healthy.
    return this.failed ? { ok: false, reason: 'the ledger could not be read' } : { ok: true };
  }
  async peek<T>(look: (view: LedgerView) => T) {
    if (this.loading || this.failed) await this.loaded();
    this.refreshNow();
    return look(this.idx);
  }
  async latest(fp: string) {
    if (this.loading || this.failed) await this.loaded();
    return this.idx.byFp.get(fp);
  }
  async byKey(key: string) {
    if (this.loading || this.failed) await this.loaded();
    return this.idx.byKey(key);
  }
  put(e: LedgerEntry) {
    return this.record(e, 'synced');
  }
  settle(e: LedgerEntry) {
    return this.record(e, 'written');
  }
  private async record(entry: LedgerEntry, until: Until) {
    if (this.loading || this.failed) await this.loaded();
    const e = atTheDoor(entry, this.redactor);
    const appender = this.writer();
    const before = appender.lines;
    const done = appender.append(JSON.stringify(e), until);
    // Indexed once the line is in the file, as another process reading the file would see it;
    // the caller still waits for `until`.
    if (appender.lines > before) {
      this.idx.apply({ ...e });
      this.sinceSnapshot++;
      this.snapshotIfDue();
    }
    await done;
  }
  async spentSince(c: string, since: number) {
    if (this.loading || this.failed) await this.loaded();
    return this.idx.spentSince(c, since);
  }

  private closeReaders(): void {
    for (const s of this.files) closeSync(s.fd);
    this.files = [];
    this.byName.clear();
  }

  async close() {
    await this.loading;
    await this.snapshotting;
    // The next start loads this instead of reading the lines since the last one (when they are
    // enough to be worth rewriting the snapshot: a few lines cost the next start next to nothing).
    const worth = Math.max(SNAPSHOT_AT_CLOSE, this.lastSnapshot / 20);
    if (this.snapshots && !this.failed && !this.closed && this.sinceSnapshot >= worth)
      await this.writeSnapshot().catch(() => {});
    this.closed = true;
    await this.current?.appender.close();
    while (this.closing.size) await Promise.all([...this.closing]);
    this.closeReaders();
  }
}
