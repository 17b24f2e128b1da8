/**
 * Settling an attempt whose outcome is unknown, by hand: one implementation for the operator's
 * command line (`capillary-loyalty-mcp settle`) and the operator console. The attempt gets its
 * outcome line naming who and why, and the audit log a record of the settlement.
 */
import type { AuditRecord } from './audit.js';
import type { IdempotencyStore, LedgerEntry } from './ledger.js';

export type SettleAs = 'applied' | 'not-applied';

/** The unknown attempt's line once settled: applied (replayed, never sent again) or not applied. */
export function settledEntry(e: LedgerEntry, as: SettleAs, by: string, now: number): LedgerEntry {
  return as === 'applied'
    ? {
        ...e,
        status: 'succeeded',
        updated: now,
        settled_by: by,
        result: { note: `settled by hand as applied (${by})` },
      }
    : {
        ...e,
        status: 'failed',
        updated: now,
        settled_by: by,
        error: {
          code: 'settled_not_applied',
          message: `settled by hand as not applied (${by})`,
          retryable: false,
          source: 'safety',
          outcome: 'failed',
        },
      };
}

/**
 * Settles one unresolved attempt by key: undefined when there is none with that key (settled
 * meanwhile, or never unknown). Writes the ledger line, then the audit record.
 */
export async function settleByHand(
  store: IdempotencyStore,
  writeAudit: (r: AuditRecord) => Promise<void>,
  a: { key: string; as: SettleAs; by: string; reason: string; environment: AuditRecord['environment'] },
  now = Date.now(),
): Promise<LedgerEntry | undefined> {
  const e = (await store.unresolvedAll()).find((x) => x.key === a.key);
  if (!e) return undefined;
  const settled = settledEntry(e, a.as, `${a.by}: ${a.reason}`, now);
  await store.put(settled);
  await writeAudit({
    time: new Date(now).toISOString(),
    tool: e.tool,
    arguments: { customer: e.customer, points: e.points },
    idempotency_key: e.key,
    outcome: a.as === 'applied' ? 'settled_applied' : 'settled_not_applied',
    settled_by: a.by,
    reason: a.reason,
    duration_ms: 0,
    environment: a.environment,
  });
  return settled;
}
