// The file ledger's files on disk: daily segment names, the read order, and the durable steps
// (create, fsync a folder, write a buffer whole). No state: the store (file-store.ts) owns that.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const DAY_MS = 86_400_000;
/** The single ledger file of earlier versions: read whole at start if present, never written. */
export const LEGACY_LEDGER = 'ledger.jsonl';
const SEGMENT = /^ledger-(\d{4}-\d{2}-\d{2})\.jsonl$/;

/** The UTC day number (days since the epoch) of a time in ms. */
export const dayOf = (ms: number) => Math.floor(ms / DAY_MS);
/** The segment file for a UTC day number: `ledger-YYYY-MM-DD.jsonl`. */
export const segmentOf = (day: number) => `ledger-${new Date(day * DAY_MS).toISOString().slice(0, 10)}.jsonl`;
/** The segment file lines written at this time (ms since epoch) go to. */
export const segmentName = (ms: number) => segmentOf(dayOf(ms));
/** The UTC day number of a segment's file name; undefined for any other name. */
export function dayOfName(name: string): number | undefined {
  const m = SEGMENT.exec(name);
  if (!m) return undefined;
  const t = Date.parse(`${m[1]}T00:00:00Z`);
  if (!Number.isFinite(t) || segmentOf(t / DAY_MS) !== name) return undefined;
  return t / DAY_MS;
}

/** The ledger's files in a folder, in read order: legacy `ledger.jsonl`, then segments by date. */
export function ledgerNames(dir: string, fromDay = Number.NEGATIVE_INFINITY): string[] {
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
export function createDurably(dir: string, path: string): boolean {
  if (existsSync(path)) return false;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  syncDir(dir);
  return true;
}

/** Makes a folder's entries (a file created or renamed in it) durable. */
export function syncDir(dir: string): void {
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
}

export function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}
