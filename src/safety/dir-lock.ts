/**
 * A lock shared by every process on one machine that uses the same data dir: a lock file created
 * with O_EXCL, holding its owner (host, pid, nonce). It guards the ledger's one atomic step
 * (read what others wrote, decide, write the pending entry), which takes about a millisecond.
 * A holder that died (kill -9) is detected by its pid and its lock broken. What it cannot cover:
 * processes on different machines sharing a network folder (use the PostgreSQL ledger there).
 */

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

const HOST = hostname();

/** This process as a ledger writer: host, pid and a nonce (a pid can be reused after a reboot). */
export const PROCESS_OWNER = `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** Whether a ledger writer named by `owner` ("host:pid:nonce") is certainly gone. */
export function ownerGone(owner: string | undefined): boolean {
  if (!owner) return false;
  const [host, pid] = owner.split(':');
  if (host !== HOST || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DirLock {
  constructor(
    readonly path: string,
    private readonly owner: string,
    private readonly waitMs = 5_000,
  ) {}

  /** Runs `fn` holding the lock. `fn` is synchronous: nothing else in this process interleaves. */
  async run<T>(fn: () => T): Promise<T> {
    await this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  private tryCreate(): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      writeSync(fd, this.owner);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  private async acquire(): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (let i = 0; ; i++) {
      if (this.tryCreate()) return;
      this.breakIfStale();
      if (Date.now() > deadline)
        throw new Error(`the ledger lock ${this.path} is held by another process for over ${this.waitMs} ms`);
      await sleep(Math.min(1 + (i >> 2), 5));
    }
  }

  /** Removes the lock of a holder that died; an empty lock file older than a second counts too. */
  private breakIfStale(): void {
    let holder: string;
    try {
      holder = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    const stale = holder
      ? ownerGone(holder)
      : (() => {
          try {
            return Date.now() - statSync(this.path).mtimeMs > 1_000;
          } catch {
            return false;
          }
        })();
    if (!stale) return;
    try {
      // Read again just before: only the dead holder's lock is removed, not a fresh one.
      if (readFileSync(this.path, 'utf8') === holder) unlinkSync(this.path);
    } catch {}
  }

  private release(): void {
    try {
      unlinkSync(this.path);
    } catch {}
  }
}
