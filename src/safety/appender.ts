import { constants, mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * O_DSYNC where the platform has it (not Windows): each write returns only once its data is on
 * disk, exactly as write + fdatasync, in one system call and one thread-pool round trip.
 */
const DSYNC: number | undefined = constants.O_DSYNC;

/**
 * An append-only file with group commit: lines queued while one write+fsync runs are written
 * and synced together by the next, and every caller's promise resolves only after its line is
 * on disk. Durability is never weakened; concurrency just shares the fsync.
 */
export class DurableAppender {
  private fh?: Promise<FileHandle>;
  /** The file ends in a line cut short by a crash: the next write starts on a fresh line. */
  private torn = false;
  private queue: { line: string; done: () => void; fail: (e: unknown) => void }[] = [];
  private flushing = false;
  private idle: Array<() => void> = [];

  constructor(
    readonly path: string,
    private readonly sync = true,
  ) {}

  private handle(): Promise<FileHandle> {
    if (!this.fh) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const flags =
        this.sync && DSYNC ? constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | DSYNC : 'a';
      this.fh = open(this.path, flags, 0o600).then(async (fh) => {
        // Best effort: a file that cannot be read back is still appended to.
        try {
          const st = await fh.stat();
          if (st.isFile() && st.size > 0) {
            const r = await open(this.path, 'r');
            try {
              const last = Buffer.alloc(1);
              await r.read(last, 0, 1, st.size - 1);
              this.torn = last[0] !== 0x0a;
            } finally {
              await r.close();
            }
          }
        } catch {}
        return fh;
      });
    }
    return this.fh;
  }

  append(line: string): Promise<void> {
    return new Promise((done, fail) => {
      this.queue.push({ line: line.endsWith('\n') ? line : `${line}\n`, done, fail });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        try {
          const fh = await this.handle();
          // Glued to a torn fragment, this batch's first line would be unreadable too (and a
          // lost ledger entry can mean a second spend after the next crash).
          const text = (this.torn ? '\n' : '') + batch.map((b) => b.line).join('');
          await fh.write(text);
          this.torn = false;
          if (this.sync && !DSYNC) await fh.datasync();
          for (const b of batch) b.done();
        } catch (e) {
          for (const b of batch) b.fail(e);
        }
      }
    } finally {
      this.flushing = false;
      for (const f of this.idle.splice(0)) f();
    }
  }

  /** Waits for queued lines, then closes the file. */
  async close(): Promise<void> {
    if (this.flushing) await new Promise<void>((r) => this.idle.push(r));
    if (this.fh) await (await this.fh).close();
    this.fh = undefined;
  }
}
