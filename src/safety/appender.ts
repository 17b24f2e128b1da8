import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * When an append resolves:
 * - `synced`: the line is on disk (a later fdatasync has returned). The ledger's pending entry,
 *   written before anything is sent, waits for this.
 * - `written`: the line is in the file (the kernel has it, so the process dying cannot lose it);
 *   it reaches the disk with the next fsync: the next `synced` line's, or its own 1-2 ms later.
 *   Outcome and audit records use this: if the machine itself fails in between, the pending entry
 *   before it reads back as unknown, and the pipeline treats unknown as "may have happened".
 */
export type Until = 'synced' | 'written';

/**
 * How long a `written` line may wait for a `synced` one's fsync to carry it before it gets an
 * fsync of its own: at least this long, under twice that (timers have 1 ms resolution).
 */
const SYNC_DELAY_MS = 1;

const datasync = (fd: number) =>
  new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));

/**
 * An append-only file with group commit. Lines are written in call order as they arrive (one
 * small write each, into the page cache); one fdatasync at a time runs behind them and covers
 * every line written before it started. Concurrent callers share that fsync; a `synced` caller
 * resolves only after an fsync that started after its line was written.
 */
export class DurableAppender {
  private fd?: number;
  /** Lines written so far, and lines known to be on disk. */
  private written = 0;
  private synced = 0;
  /** Bytes this appender has put in the file, so a reader can tell its own lines from others'. */
  private bytes = 0;
  private waiters: { seq: number; done: () => void; fail: (e: unknown) => void }[] = [];
  private syncing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  /** A failed fsync: the state of earlier lines is unknown, so nothing more is acknowledged. */
  private broken?: unknown;

  constructor(
    readonly path: string,
    /** fdatasync; replaceable in tests. */
    private readonly fsync: (fd: number) => Promise<void> = datasync,
    /**
     * Whether the caller has nothing else in flight. A `synced` line written then, with no other
     * waiting, is fsync'd on the spot (blocking): the thread-pool round trip and the wake-ups
     * around it cost about as much as the fsync itself. Under concurrency the loop must stay free,
     * so fsyncs run in the thread pool and are shared (group commit).
     */
    private readonly alone: () => boolean = () => false,
  ) {}

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const fd = openSync(this.path, 'a', 0o600);
      try {
        // A file ending in a line cut short by a crash: start on a fresh line, or this batch's
        // first line would be unreadable too (and a lost ledger entry can mean a second spend).
        const size = fstatSync(fd).size;
        if (size > 0) {
          const r = openSync(this.path, 'r');
          try {
            const last = Buffer.alloc(1);
            readSync(r, last, 0, 1, size - 1);
            if (last[0] !== 0x0a) this.writeAll(fd, Buffer.from('\n'));
          } finally {
            closeSync(r);
          }
        }
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      this.fd = fd;
    }
    return this.fd;
  }

  /** Lines in the file so far, and the bytes this appender wrote. */
  get lines(): number {
    return this.written;
  }
  get bytesWritten(): number {
    return this.bytes;
  }

  append(line: string, until: Until = 'synced'): Promise<void> {
    try {
      if (this.broken) throw this.broken;
      this.writeAll(this.open(), Buffer.from(line.endsWith('\n') ? line : `${line}\n`));
    } catch (e) {
      return Promise.reject(e);
    }
    const seq = ++this.written;
    if (until === 'synced' && !this.syncing && !this.waiters.length && this.alone()) {
      clearTimeout(this.timer);
      this.timer = undefined;
      try {
        fdatasyncSync(this.fd!);
      } catch (e) {
        this.broken = e;
        return Promise.reject(e);
      }
      this.synced = seq;
      return Promise.resolve();
    }
    if (until === 'synced') {
      const p = new Promise<void>((done, fail) => this.waiters.push({ seq, done, fail }));
      this.kick();
      return p;
    }
    // Nobody waits for this line's fsync. Starting one now would hold up the next pending entry
    // (its own fsync could only start after this one returns), so it waits briefly for that
    // entry's fsync to carry it, and is synced on its own after SYNC_DELAY_MS otherwise.
    this.later();
    return Promise.resolve();
  }

  private later(): void {
    if (this.timer) return;
    const due = performance.now() + SYNC_DELAY_MS;
    const fire = () => {
      // Node starts a timer from the event loop's cached clock, which may already be most of a
      // millisecond old when the line is written: fired early, the fsync would start just when
      // the next pending entry arrives, and hold it up. It waits out the rest instead.
      if (performance.now() < due) {
        this.timer = setTimeout(fire, 1);
        return;
      }
      this.timer = undefined;
      this.kick();
    };
    this.timer = setTimeout(fire, SYNC_DELAY_MS);
  }

  /** Starts the fsync loop unless it runs. */
  private kick(): void {
    if (this.syncing || this.broken) return;

    this.syncing = this.syncLoop().finally(() => {
      this.syncing = undefined;
      // Lines written between the loop's last check and now.
      if (this.synced >= this.written || this.broken || this.fd === undefined) return;
      if (this.waiters.length) this.kick();
      else this.later();
    });
  }

  private async syncLoop(): Promise<void> {
    while (this.synced < this.written && this.fd !== undefined) {
      const upTo = this.written;
      // This fsync covers every line written so far, so no timer is needed for them any longer
      // (left armed, it would start another fsync for nothing new, in the next call's way).
      clearTimeout(this.timer);
      this.timer = undefined;
      try {
        await this.fsync(this.fd);
        this.synced = upTo;
      } catch (e) {
        this.broken = e;
        for (const w of this.waiters.splice(0)) w.fail(e);
        return;
      }
      const ready = this.waiters.filter((w) => w.seq <= upTo);
      this.waiters = this.waiters.filter((w) => w.seq > upTo);
      for (const w of ready) w.done();
    }
  }

  /** Counts every byte as it lands, even when a later part of the write fails. */
  private writeAll(fd: number, buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      const n = writeSync(fd, buf, off, buf.length - off);
      off += n;
      this.bytes += n;
    }
  }

  /** Waits until every line written is on disk, then closes the file. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.kick();
    for (let s = this.syncing; s; s = this.syncing === s ? undefined : this.syncing) await s.catch(() => {});
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
