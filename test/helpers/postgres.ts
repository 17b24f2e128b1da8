/**
 * A real, private PostgreSQL server for the tests: initdb in a temporary folder, listening on
 * a loopback port (and a socket in that folder), password auth. One cluster per test run: the
 * first test file that asks starts it (test/global-postgres.ts stops it at the end); each file
 * gets its own database. Root cannot run initdb or postgres: they run as the `postgres` user.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The folder the run's shared cluster is described in (test/global-postgres.ts). */
    pgState: string;
  }
}

/** The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<v>/bin). */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')));
  } catch {}
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length) return join(root, versions[0], 'bin');
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir && existsSync(join(dir, 'initdb')) ? dir : undefined;
}

/** No PostgreSQL here and not in CI: the PostgreSQL tests are skipped (CI installs it, and fails without). */
export const pgMissing = !pgBinDir() && !process.env.CI;

export interface ClusterInfo {
  dir: string;
  bin: string;
  port: number;
  password: string;
}

/** The user the server runs as: root may not run it, so root hands it to `postgres`. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root and there is no `postgres` user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(bin: string, tool: string, args: string[], timeoutMs = 60_000): string {
  const r = spawnSync(join(bin, tool), args, {
    ...runAs(),
    cwd: tmpdir(),
    encoding: 'utf8',
    timeout: timeoutMs,
    // pg_ctl is given a log file: nothing keeps these pipes open after it returns.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0)
    throw new Error(`${tool} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** initdb + pg_ctl start: a new private cluster. */
export async function startCluster(
  opts: { maxConnections?: number; fsync?: boolean } = {},
): Promise<ClusterInfo> {
  const bin = pgBinDir();
  if (!bin)
    throw new Error('PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does this in CI)');
  const dir = mkdtempSync(join(tmpdir(), 'clmcp-pg-'));
  const password = randomBytes(12).toString('hex');
  const { uid, gid } = runAs();
  writeFileSync(join(dir, 'pw'), `${password}\n`, { mode: 0o600 });
  if (uid !== undefined && gid !== undefined) {
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'pw'), uid, gid);
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  run(bin, 'initdb', [
    '--no-sync',
    '--locale=C',
    '-E',
    'UTF8',
    '-U',
    'postgres',
    '-A',
    'scram-sha-256',
    '--pwfile',
    join(dir, 'pw'),
    '-D',
    data,
  ]);
  const settings = [
    `max_connections = ${opts.maxConnections ?? 300}`,
    `fsync = ${opts.fsync ? 'on' : 'off'}`,
    `synchronous_commit = ${opts.fsync ? 'on' : 'off'}`,
    'shared_buffers = 32MB',
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
  ];
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    // In the cluster's own configuration, so that a restart (pg_ctl start alone) keeps them.
    appendFileSync(join(data, 'postgresql.conf'), `\n${[...settings, `port = ${port}`].join('\n')}\n`);
    const info: ClusterInfo = { dir, bin, port, password };
    try {
      resumeCluster(info);
      return info;
    } catch (e) {
      // Another process took the port between the probe and the start: another port.
      if (tries >= 3) throw e;
    }
  }
}

export function stopCluster(c: ClusterInfo): void {
  try {
    run(c.bin, 'pg_ctl', ['stop', '-w', '-D', join(c.dir, 'data'), '-m', 'fast']);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
  }
}

/** Stops the server (`immediate`: as a crash would) and starts it again on the same port. */
export function restartCluster(c: ClusterInfo, mode: 'fast' | 'immediate' = 'fast'): void {
  run(c.bin, 'pg_ctl', ['restart', '-w', '-t', '60', '-D', join(c.dir, 'data'), '-m', mode]);
}

/** Stops the server and leaves it stopped (startCluster again with `resumeCluster`). */
export function pauseCluster(c: ClusterInfo): void {
  run(c.bin, 'pg_ctl', ['stop', '-w', '-D', join(c.dir, 'data'), '-m', 'fast']);
}
export function resumeCluster(c: ClusterInfo): void {
  run(c.bin, 'pg_ctl', ['start', '-w', '-t', '60', '-D', join(c.dir, 'data'), '-l', join(c.dir, 'log')]);
}

export const clusterUrl = (c: ClusterInfo, db = 'postgres', password = c.password) =>
  `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${c.port}/${db}`;

/** A new empty database on the cluster; returns its URL. */
export async function createDatabase(c: ClusterInfo, prefix = 't'): Promise<string> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: clusterUrl(c) });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return clusterUrl(c, name);
}

/**
 * The run's one cluster, started by whichever test file asks first (a lock folder decides),
 * described in the run's state folder for the others and for the teardown that stops it.
 */
export async function sharedCluster(): Promise<ClusterInfo> {
  const state = inject('pgState');
  const file = join(state, 'cluster.json');
  const failed = join(state, 'failed.txt');
  let mine = false;
  try {
    mkdirSync(join(state, 'lock'));
    mine = true;
  } catch {}
  if (mine) {
    try {
      const info = await startCluster();
      writeFileSync(`${file}.tmp`, JSON.stringify(info));
      renameSync(`${file}.tmp`, file);
      return info;
    } catch (e) {
      writeFileSync(failed, String((e as Error).message));
      throw e;
    }
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ClusterInfo;
    if (existsSync(failed))
      throw new Error(`the shared PostgreSQL did not start: ${readFileSync(failed, 'utf8')}`);
    if (Date.now() > deadline) throw new Error('timed out waiting for the shared PostgreSQL to start');
    await new Promise((r) => setTimeout(r, 100));
  }
}
