/**
 * Stateful simulator of Capillary's loyalty points API, served over real HTTP on loopback.
 * See ./README.md for the exact request/response contract of every endpoint.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SandboxCore } from './core.js';
import { cloneJson } from './exact-json.js';
import { DEFAULT_SEED, loadSeedFile, type SandboxSeed, validateSeed } from './seed.js';
import { createRequestListener } from './server.js';
import { Store } from './state.js';
import { readStateFile, saveState } from './state-file.js';
import { computeStats, type SandboxStats } from './stats.js';

export { basicAuthHeader, md5hex, SANDBOX_CREDENTIALS } from './credentials.js';
export { RawNumber } from './exact-json.js';
export { formatMilli, parseMilli } from './points.js';
export type {
  EventName,
  FaultKind,
  SandboxSeedCustomer,
  SandboxSeedFault,
  SandboxSeedPromised,
} from './seed.js';
export { DEFAULT_SEED, loadSeedFile, SeedError, validateSeed } from './seed.js';
export { StateFileError } from './state-file.js';
export type { SandboxStats, Tally, TallyBy } from './stats.js';
export type { SandboxSeed };

export interface SandboxOptions {
  /** default 0 (ephemeral) */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** seed object or path to a seed JSON file; default DEFAULT_SEED. Ignored when statePath holds a state. */
  seed?: SandboxSeed | string;
  /** persist state here (atomic write after every mutation) and reload it at start */
  statePath?: string;
  /** clock (ms since epoch); default Date.now */
  now?: () => number;
  /** validation code validity; default 15 minutes */
  otpValidityMs?: number;
  /** OAuth token lifetime; default 300 s */
  oauthTtlSeconds?: number;
}

export interface SandboxHandle {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  close(): Promise<void>;
  /** count of HTTP requests received (reads of the debug path /__sandbox/stats aside) */
  readonly requests: number;
  /** what was actually committed, per customer id and external_reference_number (see stats.ts) */
  stats(): SandboxStats;
  /** deep copy of the state (for tests; shape is internal) */
  snapshot(): unknown;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<SandboxHandle> {
  const now = opts.now ?? Date.now;
  let store: Store;
  const saved = opts.statePath ? readStateFile(opts.statePath) : undefined;
  if (saved) {
    store = Store.fromData(saved, opts.statePath);
  } else {
    const seed =
      opts.seed === undefined
        ? DEFAULT_SEED
        : typeof opts.seed === 'string'
          ? loadSeedFile(opts.seed)
          : validateSeed(opts.seed);
    store = Store.fromSeed(seed, opts.statePath);
    saveState(store, now()); // creates the state file when a path is set
  }
  const core = new SandboxCore(store, {
    now,
    otpValidityMs: opts.otpValidityMs ?? 15 * 60 * 1000,
    oauthTtlSeconds: opts.oauthTtlSeconds ?? 300,
  });
  let requests = 0;
  const server = createServer(
    createRequestListener(core, () => {
      requests++;
    }),
  );
  server.keepAliveTimeout = 30_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    get requests() {
      return requests;
    },
    snapshot: () => cloneJson(store.toData(now())),
    stats: () => computeStats(store),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
