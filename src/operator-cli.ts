/**
 * The operator's side of an unknown outcome, on the command line (a human, never the model):
 *   capillary-loyalty-mcp unresolved
 *   capillary-loyalty-mcp settle --key KEY --as applied|not-applied --by NAME --reason TEXT
 * An attempt whose outcome is unknown blocks its customer's money calls until an identical repeat
 * succeeds or an operator settles it here, after checking the customer's balance or Capillary's
 * records. Each settlement is a ledger line and an audit record naming who and why.
 */
import { existsSync } from 'node:fs';
import { loadLedgerConfig, loadLedgerPaths } from './config.js';
import { AuditLog } from './safety/audit.js';
import { DEFAULT_HORIZON_MS, FileStore, type IdempotencyStore, type LedgerEntry } from './safety/ledger.js';
import { settleByHand } from './safety/settle.js';

export const OPERATOR_USAGE = `Usage:
  capillary-loyalty-mcp unresolved
      list the attempts whose outcome is unknown (they block their customer's money calls)
  capillary-loyalty-mcp settle --key KEY --as applied|not-applied --by NAME --reason TEXT
      settle one by hand, after checking the customer's balance or Capillary's records:
      applied      the points did move: an identical repeat is replayed, never sent again
      not-applied  nothing moved: the customer is unblocked and a repeat is sent with a new key
Reads the ledger the server uses (CAPILLARY_DATA_DIR, or CAPILLARY_LEDGER_URL) and CAPILLARY_AUDIT_LOG.`;

export class UsageError extends Error {}

/** The ledger the server uses: the PostgreSQL one when configured, else the data dir's files. */
async function openStore(env: NodeJS.ProcessEnv, dataDir: string): Promise<IdempotencyStore> {
  const cfg = loadLedgerConfig(env);
  if (cfg.ledger === 'postgres' && cfg.ledgerTarget) {
    const { PgStore } = await import('./safety/pg-store.js');
    // Never purges from here: a one-shot command.
    return PgStore.open({
      target: cfg.ledgerTarget,
      timeoutMs: cfg.ledgerTimeoutMs,
      poolSize: 1,
      purgeEveryMs: 0,
    });
  }
  if (!existsSync(dataDir)) throw new UsageError(`no ledger in CAPILLARY_DATA_DIR (${dataDir})`);
  return new FileStore(dataDir, DEFAULT_HORIZON_MS);
}

function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || i + 1 >= argv.length) throw new UsageError(`unexpected argument "${a}"`);
    out[a.slice(2)] = argv[++i];
  }
  return out;
}

const describe = (e: LedgerEntry) =>
  `${e.key}  ${e.tool}  customer ${e.customer}  ${e.points} points  status ${e.status}  last sent ${new Date(e.at).toISOString()}`;

export async function runOperatorCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<void> {
  const [cmd, ...rest] = argv;
  const { dataDir, auditLog } = loadLedgerPaths(env);
  const store = await openStore(env, dataDir);
  try {
    const open = await store.unresolvedAll();
    if (cmd === 'unresolved') {
      out(open.length ? `${open.map(describe).join('\n')}\n` : 'no unresolved attempts\n');
      return;
    }
    const f = flags(rest);
    const as = f.as;
    if (!f.key || (as !== 'applied' && as !== 'not-applied') || !f.by?.trim() || !f.reason?.trim())
      throw new UsageError('settle needs --key, --as applied|not-applied, --by and --reason');
    const audit = new AuditLog(auditLog);
    let e: LedgerEntry | undefined;
    try {
      e = await settleByHand(store, (r) => audit.write(r), {
        key: f.key,
        as,
        by: f.by.trim(),
        reason: f.reason.trim(),
        environment: 'live',
      });
    } finally {
      await audit.close();
    }
    if (!e)
      throw new UsageError(`no unresolved attempt with key ${f.key} (see: capillary-loyalty-mcp unresolved)`);
    out(`settled ${e.key} as ${as}\n`);
  } finally {
    await store.close();
  }
}
