// Child processes and temp dirs the bench owns: tracked, and always cleaned up.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `clmcp-bench-${prefix}-`));
  dirs.add(d);
  return d;
}

/** Spawns and tracks a child; stderr is kept (last 8 KB) for error messages. */
export function spawnTracked(
  cmd: string,
  args: string[],
  opts: SpawnOptions = {},
): ChildProcess & { tail(): string } {
  const cp = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts }) as ChildProcess & {
    tail(): string;
  };
  children.add(cp);
  let err = '';
  cp.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8192);
  });
  cp.tail = () => err;
  cp.once('exit', () => children.delete(cp));
  cp.once('error', () => children.delete(cp));
  return cp;
}

export const exited = (cp: ChildProcess) => cp.exitCode !== null || cp.signalCode !== null;

/** Resolves when the child has exited, or after ms (then false). */
export function waitExit(cp: ChildProcess, ms: number): Promise<boolean> {
  if (exited(cp)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Graceful stop: close stdin, then SIGTERM, then SIGKILL; bounded in time. */
export async function stop(cp: ChildProcess, graceMs = 3000): Promise<void> {
  if (exited(cp)) return;
  cp.stdin?.end();
  if (await waitExit(cp, graceMs)) return;
  cp.kill('SIGTERM');
  if (await waitExit(cp, graceMs)) return;
  cp.kill('SIGKILL');
  await waitExit(cp, graceMs);
}

/** Kills every child still running and removes every temp dir (safe to call more than once). */
export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, 1500)));
  cleanupSync();
}

export function cleanupSync(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
  for (const d of dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
  dirs.clear();
}

export function liveChildren(): number {
  return children.size;
}

/** Resident set size and its peak (VmHWM), in MB, from /proc; undefined where /proc is missing. */
export function memOf(pid: number | undefined): { rssMb: number; hwmMb: number } | undefined {
  if (!pid) return undefined;
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Waits for a line on the child's stderr matching re; rejects on exit or after ms. */
export function waitStderr(
  cp: ChildProcess & { tail(): string },
  re: RegExp,
  ms: number,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (f: () => void) => {
      clearTimeout(t);
      cp.stderr?.off('data', onData);
      cp.off('exit', onExit);
      f();
    };
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) done(() => resolve(m));
    };
    const onExit = (code: number | null) =>
      done(() => reject(new Error(`child exited (${code}) before ${re}: ${cp.tail()}`)));
    const t = setTimeout(
      () => done(() => reject(new Error(`timed out waiting for ${re}: ${cp.tail()}`))),
      ms,
    );
    cp.stderr?.on('data', onData);
    cp.once('exit', onExit);
  });
}
