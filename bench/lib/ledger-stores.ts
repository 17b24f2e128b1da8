// The ledger stores side by side: redemptions/s through stdio servers on the memory, file and
// PostgreSQL ledgers, one and three replicas, at several concurrencies, with the CPU each
// party used (servers, PostgreSQL, the sandbox, this client), to say what bounds the figure.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  type ClusterInfo,
  createDatabase,
  pgBinDir,
  startCluster,
  stopCluster,
} from '../../test/fixtures/pg-cluster.js';
import type { Rpc } from './rpc.js';
import { fmt, round, type Window } from './stats.js';

export interface StoresDeps {
  seconds: number;
  warmS: number;
  concurrencies: number[];
  say(s: string): void;
  window(workers: number, seconds: number, fn: (w: number) => Promise<unknown>): Promise<Window>;
  /** A stdio server on the sandbox with these extra variables (a fresh data dir unless given). */
  server(
    ledger: 'file' | 'memory' | 'postgres',
    extra: Record<string, string>,
  ): Promise<{ cp: ChildProcess; rpc: Rpc }>;
  stop(cp: ChildProcess): Promise<void>;
  redeem(rpc: Rpc, worker: number): Promise<unknown>;
  dataDir(): string;
  sandboxPid?: number;
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used; 0 once it is gone. */
function cpuOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

/** The postmaster and every backend it forked. */
function clusterPids(c: ClusterInfo): number[] {
  let master: number;
  try {
    master = Number(readFileSync(join(c.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return [];
  }
  const out = [master];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) out.push(Number(d));
    } catch {}
  }
  return out;
}

const PARTIES = ['servers', 'db', 'sandbox', 'client'] as const;
type Party = (typeof PARTIES)[number];

interface Mode {
  name: string;
  replicas: number;
  ledger: 'file' | 'memory' | 'postgres';
}

export async function ledgerStores(
  d: StoresDeps,
): Promise<{ results: Record<string, any>; rows: string[][] }> {
  const modes: Mode[] = [
    { name: 'memory', replicas: 1, ledger: 'memory' },
    { name: 'file', replicas: 1, ledger: 'file' },
    { name: 'file x3', replicas: 3, ledger: 'file' },
  ];
  let cluster: ClusterInfo | undefined;
  let url: string | undefined;
  const stopDb = () => {
    if (cluster) stopCluster(cluster);
    cluster = undefined;
  };
  if (pgBinDir()) {
    // Durable like the file ledger: fsync and synchronous commit on.
    cluster = await startCluster({ maxConnections: 200, fsync: true });
    process.once('exit', () => {
      try {
        stopDb();
      } catch {}
    });
    url = await createDatabase(cluster, 'bench');
    modes.push(
      { name: 'postgres', replicas: 1, ledger: 'postgres' },
      { name: 'postgres x3', replicas: 3, ledger: 'postgres' },
    );
  } else d.say('ledger stores: PostgreSQL is not installed; its rows are skipped');

  const results: Record<string, any> = {
    transport:
      'stdio servers, requests pipelined, one customer per worker, workers spread over replicas in turn',
    postgres: cluster
      ? 'private cluster, fsync on, synchronous_commit on, pool 10 per replica'
      : 'not installed',
    cores: cpus().length,
  };
  const rows: string[][] = [];
  try {
    for (const mode of modes) {
      const shared = mode.ledger === 'file' ? d.dataDir() : undefined;
      const extra: Record<string, string> = {
        ...(shared ? { CAPILLARY_DATA_DIR: shared } : {}),
        ...(mode.ledger === 'postgres' ? { CAPILLARY_LEDGER_URL: url! } : {}),
      };
      const servers: Array<{ cp: ChildProcess; rpc: Rpc }> = [];
      for (let i = 0; i < mode.replicas; i++) servers.push(await d.server(mode.ledger, extra));
      const fn = (w: number) => d.redeem(servers[w % servers.length].rpc, w);
      results[mode.name] = {};
      for (const c of d.concurrencies) {
        await d.window(c, d.warmS, fn);
        const pids = {
          servers: servers.map((s) => s.cp.pid),
          db: cluster && mode.ledger === 'postgres' ? clusterPids(cluster) : [],
        };
        const cpu = (): Record<Party, number> => ({
          servers: pids.servers.reduce((a: number, p) => a + cpuOf(p), 0),
          db: pids.db.reduce((a: number, p) => a + cpuOf(p), 0),
          sandbox: cpuOf(d.sandboxPid),
          client: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()),
        });
        const before = cpu();
        const w = await d.window(c, d.seconds, fn);
        const after = cpu();
        // Share of one core each party used during the window (200% = both cores of a 2-core machine).
        const share = {} as Record<Party, number>;
        for (const k of PARTIES) share[k] = round((100 * (after[k] - before[k])) / w.seconds, 0);
        results[mode.name][`c${c}`] = { ...w, cpu_percent: share };
        d.say(`ledger stores: ${mode.name} c=${c}: ${fmt(w.calls_per_s, 0)}/s, ${w.errors} errors`);
        rows.push([
          mode.name,
          String(c),
          fmt(w.calls_per_s, 0),
          fmt(w.p50_ms, 1),
          String(w.errors),
          `${share.servers}% / ${share.db}% / ${share.sandbox}% / ${share.client}%`,
        ]);
      }
      for (const s of servers) await d.stop(s.cp);
    }
  } finally {
    stopDb();
  }
  return { results, rows };
}
