import { mkdirSync } from 'node:fs';
import { CapillaryClient } from './capillary/client.js';
import { type Config, ConfigError, configSecrets } from './config.js';
import { Logger } from './log.js';
import { IdentityResolver } from './pipeline/identity.js';
import { AuditLog, type AuditSink } from './safety/audit.js';
import { HOUR_MS } from './safety/caps.js';
import { Questions } from './safety/confirm.js';
import { DEFAULT_HORIZON_MS, FileStore, type IdempotencyStore, MemoryStore } from './safety/ledger.js';
import { KeyedLock } from './safety/lock.js';
import { Redactor } from './safety/redact.js';
import { type AnyTool, isSpendTool } from './toolkit/define.js';
import { type ListedTool, listTool } from './toolkit/listing.js';

/** Everything a server instance needs, built once per process and shared by every transport. */
export interface App {
  config: Config;
  log: Logger;
  redactor: Redactor;
  client: CapillaryClient;
  store: IdempotencyStore;
  audit: AuditLog;
  locks: KeyedLock;
  /** Resolves the customer a money call names to Capillary's customer id. */
  identity: IdentityResolver;
  /** The confirmation questions this process asked and has not had answered. */
  questions: Questions;
  /** In-flight spend operations by fingerprint: identical concurrent calls share one request. */
  inflight: Map<string, Promise<unknown>>;
  tools: Map<string, AnyTool>;
  /** tools/list entries, converted once. */
  listed: ListedTool[];
  /** Where the approval page and operator console are served (src/console/), once they listen:
   * the address links handed to the agent start with. Unset: no page, only elicitation. */
  console?: { url: string };
  /** Set while an embedded sandbox starts in the background: calls wait for it. */
  ready?: Promise<void>;
  close(): Promise<void>;
}

/** What the audit writer needs of the app. */
export const auditSink = (app: App): AuditSink => ({
  audit: app.audit,
  log: app.log,
  environment: app.config.environment,
});

/**
 * Applies read-only mode, then the allow- and deny-lists. Unknown names are a start-up error.
 * Money tools that move points the same way are one family (SpendSpec.family): excluding one
 * member excludes the others too, unless the allow-list names them.
 */
export function selectTools(
  all: AnyTool[],
  cfg: Pick<Config, 'readOnly' | 'tools' | 'excludeTools'>,
): AnyTool[] {
  const names = new Set(all.map((t) => t.name));
  const unknown = [...(cfg.tools ?? []), ...(cfg.excludeTools ?? [])].filter((n) => !names.has(n));
  if (unknown.length)
    throw new ConfigError([
      `unknown tool name(s) in CAPILLARY_TOOLS/CAPILLARY_EXCLUDE_TOOLS: ${unknown.join(', ')} (known: ${[...names].join(', ')})`,
    ]);
  const familyOf = (t: AnyTool) => (isSpendTool(t) ? t.spend.family : undefined);
  const excludedFamilies = new Set(
    all
      .filter((t) => cfg.excludeTools?.includes(t.name))
      .map(familyOf)
      .filter(Boolean),
  );
  return all.filter(
    (t) =>
      (!cfg.readOnly || t.effect === 'read') &&
      (!cfg.tools?.length || cfg.tools.includes(t.name)) &&
      !cfg.excludeTools?.includes(t.name) &&
      !(excludedFamilies.has(familyOf(t)) && !cfg.tools?.includes(t.name)),
  );
}

/** The process's redactor (one: OAuth tokens are added to it as issued) and its logger (stderr). */
export interface Voice {
  redactor: Redactor;
  log: Logger;
}
export function voiceFor(config: Config): Voice {
  const redactor = new Redactor(configSecrets(config));
  return { redactor, log: new Logger(config.logLevel, redactor) };
}

/** Nothing older than this can change a decision (replay window, 24 h caps, confirmation
 * window and cooldown, the code rate's hour). */
const horizonOf = (config: Config) =>
  Math.max(
    config.idempotencyWindowMs,
    DEFAULT_HORIZON_MS,
    config.confirmWindowMs,
    config.confirmCooldownMs,
    HOUR_MS,
  );

/**
 * Opens the PostgreSQL ledger when it is configured (connects, migrates; a clear ConfigError
 * when it cannot): the one store that needs a wait before the app exists. Else undefined.
 */
export async function openLedger(
  config: Config,
  { log, redactor }: Voice,
): Promise<IdempotencyStore | undefined> {
  if (config.ledger !== 'postgres' || !config.ledgerTarget) return undefined;
  const { PgStore } = await import('./safety/pg-store.js');
  const store = await PgStore.open({
    target: config.ledgerTarget,
    poolSize: config.ledgerPoolSize,
    timeoutMs: config.ledgerTimeoutMs,
    horizonMs: horizonOf(config),
    log: (level, msg, fields) => log.log(level, msg, fields),
    redactor,
  });
  log.info(`ledger: PostgreSQL at ${store.where} (up to ${config.ledgerPoolSize} connections)`);
  return store;
}

/** `opened`: the store openLedger() returned, and the redactor and logger it was given. */
export function createApp(
  config: Config,
  allTools: AnyTool[],
  opened?: Voice & { store?: IdempotencyStore },
): App {
  const { redactor, log } = opened ?? voiceFor(config);
  const client = new CapillaryClient(config, redactor, log);
  const tools = selectTools(allTools, config);
  const byFamily = allTools
    .filter((t) => !config.excludeTools?.includes(t.name) && !tools.includes(t))
    .filter((t) => !config.readOnly && (!config.tools?.length || config.tools.includes(t.name)));
  if (byFamily.length)
    log.info(
      `CAPILLARY_EXCLUDE_TOOLS: ${byFamily.map((t) => t.name).join(', ')} excluded too (the same way to move points as an excluded tool); name it in CAPILLARY_TOOLS to keep it`,
    );
  if (config.ledger === 'file') mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const horizon = horizonOf(config);
  const inflight = new Map<string, Promise<unknown>>();
  let store: IdempotencyStore;
  try {
    if (opened?.store) store = opened.store;
    else if (config.ledger === 'postgres')
      throw new Error('the PostgreSQL ledger is opened before the app (openLedger)');
    else
      store =
        config.ledger === 'file'
          ? new FileStore(config.dataDir, horizon, () => inflight.size <= 1, undefined, redactor, {
              background: true,
            })
          : new MemoryStore(horizon);
  } catch (e) {
    throw new ConfigError([
      `CAPILLARY_DATA_DIR: cannot read the ledger in ${config.dataDir}: ${(e as Error).message}`,
    ]);
  }
  if (store instanceof FileStore) {
    const file = store;
    // Read in the background (tools/list is answered meanwhile); ledger calls wait for it.
    file.loaded().then(
      () => {
        if (file.skipped)
          log.warn(`ledger: ${file.skipped} unreadable line(s) skipped (a write cut off by a crash)`);
      },
      (e) => log.error(`ledger: cannot read the ledger in ${config.dataDir}: ${(e as Error).message}`),
    );
  }
  const audit = new AuditLog(config.auditLog, redactor);
  return {
    config,
    log,
    redactor,
    client,
    store,
    audit,
    locks: new KeyedLock(),
    identity: new IdentityResolver({ client }, config.identityCacheMs),
    questions: new Questions(),
    inflight,
    tools: new Map(tools.map((t) => [t.name, t])),
    listed: tools.map((t) => listTool(t)),
    async close() {
      await Promise.allSettled([...this.inflight.values()]);
      await store.close();
      await audit.close();
    },
  };
}
