/**
 * The file ledger's start-up snapshot (`ledger.snapshot` in the data dir): the index's entries as
 * of byte offset N of each ledger file, so that a start loads them and reads only what was
 * appended past N, not every line of the day again.
 *
 * Layout: the entries as JSON lines (exactly what a fresh index needs to come back to the same
 * state: every entry still referenced, in arrival order), then one trailer line naming the format
 * version, the horizon, each ledger file covered (name, inode, offset N and a sha256 of the bytes
 * just before N), the body's length and its sha256. It is written to a temporary file, fsync'd
 * and renamed over the old one (readers see the old snapshot or the new, never half of one), and
 * only after the ledger files themselves were fsync'd up to N: a snapshot is never ahead of the
 * durable ledger.
 *
 * It is trusted only when it agrees with the ledger: same format version and horizon, the same
 * files in the same order (a file not covered may only come after them), every file but the
 * last exactly N bytes long, the last at least N, inodes and the bytes before N unchanged, and
 * the body's checksum right. Anything else (missing, truncated, corrupt, another version, a
 * ledger cut short below N or replaced) means a full read of the ledger, as without a snapshot.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ownerGone } from './dir-lock.js';

export const SNAPSHOT = 'ledger.snapshot';
const TMP_PREFIX = `${SNAPSHOT}.tmp-`;
/** Bumped whenever the body or trailer changes meaning: an older snapshot is then ignored. */
export const SNAPSHOT_VERSION = 1;
const FORMAT = 'capillary-ledger-snapshot';
/** How many bytes before N are compared (a replaced or rewritten file differs there). */
const TAIL_BYTES = 4096;
/** The trailer is looked for in the snapshot's last bytes. */
const TRAILER_MAX = 1 << 16;

/** A ledger file as a snapshot covers it. */
export interface CoveredFile {
  name: string;
  ino: number;
  offset: number;
  /** sha256 (hex) of the up to TAIL_BYTES bytes before `offset`. */
  tail: string;
}

export interface Trailer {
  format: typeof FORMAT;
  version: number;
  horizon: number;
  files: CoveredFile[];
  /** Entries in the body, its length in bytes and its sha256 (hex). */
  entries: number;
  body: number;
  sha256: string;
  /** Unreadable ledger lines (torn writes) before N, for the start-up warning. */
  skipped: number;
}

/** sha256 of the bytes of an open file just before `offset`. */
export function tailHash(fd: number, offset: number): string {
  const from = Math.max(0, offset - TAIL_BYTES);
  const buf = Buffer.alloc(offset - from);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, from + got);
    if (n <= 0) break;
    got += n;
  }
  return createHash('sha256').update(buf.subarray(0, got)).digest('hex');
}

/** A ledger file open for reading, as the store tracks it. */
export interface OpenFile {
  name: string;
  fd: number;
}

/**
 * The snapshot, if one agrees with the ledger files about to be read (in read order): its
 * trailer and an open descriptor on it (the caller streams the body and checks its sha256).
 */
export function openSnapshot(
  dir: string,
  files: OpenFile[],
  horizon: number,
): { fd: number; trailer: Trailer } | undefined {
  let fd: number;
  try {
    fd = openSync(join(dir, SNAPSHOT), 'r');
  } catch {
    return undefined;
  }
  try {
    const t = readTrailer(fd);
    if (t && t.horizon === horizon && agrees(t.files, files)) return { fd, trailer: t };
  } catch {}
  closeSync(fd);
  return undefined;
}

function readTrailer(fd: number): Trailer | undefined {
  const size = fstatSync(fd).size;
  const len = Math.min(size, TRAILER_MAX);
  const buf = Buffer.alloc(len);
  if (readSync(fd, buf, 0, len, size - len) !== len || buf[len - 1] !== 0x0a) return undefined;
  const start = buf.lastIndexOf(0x0a, len - 2) + 1;
  if (start === 0 && len < size) return undefined;
  const t = JSON.parse(buf.subarray(start, len - 1).toString('utf8')) as Trailer;
  if (t?.format !== FORMAT || t.version !== SNAPSHOT_VERSION) return undefined;
  if (!Array.isArray(t.files) || typeof t.sha256 !== 'string') return undefined;
  // The body ends where the trailer starts: a snapshot cut short or padded is not trusted.
  if (t.body !== size - len + start) return undefined;
  return t;
}

function agrees(covered: CoveredFile[], files: OpenFile[]): boolean {
  if (!covered.length || covered.length > files.length) return false;
  return covered.every((c, i) => {
    const f = files[i];
    if (f.name !== c.name) return false;
    const st = fstatSync(f.fd);
    if (st.ino !== c.ino) return false;
    if (i < covered.length - 1 ? st.size !== c.offset : st.size < c.offset) return false;
    return tailHash(f.fd, c.offset) === c.tail;
  });
}

/** Removes temporary snapshot files left by writers that died mid-write. */
export function removeStaleTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(TMP_PREFIX)) continue;
    if (!ownerGone(n.slice(TMP_PREFIX.length))) continue;
    try {
      unlinkSync(join(dir, n));
    } catch {}
  }
}

let temps = 0;
/**
 * The temporary file a writer (host:pid:nonce) fills before renaming it over the snapshot: one
 * of its own per write (two stores of one process may write at once).
 */
export const tempName = (owner: string) => `${TMP_PREFIX}${owner}:${++temps}`;

export const trailerOf = (t: Omit<Trailer, 'format' | 'version'>): string =>
  `${JSON.stringify({ format: FORMAT, version: SNAPSHOT_VERSION, ...t })}\n`;
