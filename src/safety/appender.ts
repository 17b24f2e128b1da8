import { mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * An append-only file with group commit: lines queued while one write+fsync runs are written
 * and synced together by the next, and every caller's promise resolves only after its line is
 * on disk. Durability is never weakened; concurrency just shares the fsync.
 */
export class DurableAppender {
  private fh?: Promise<FileHandle>;
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
      this.fh = open(this.path, 'a', 0o600);
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
          await fh.write(batch.map((b) => b.line).join(''));
          if (this.sync) await fh.datasync();
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
