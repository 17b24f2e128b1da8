// The PostgreSQL ledger's schema: versioned migrations that ship with the server and run at
// start (pg-store.ts), each once, under an advisory lock so that replicas starting together
// apply them one at a time. A new table (declines, confirmations, rate limits) is a new
// migration at the end of the list; a shipped one is never edited.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Session advisory lock held while migrating; transaction locks use hashtextextended() keys. */
export const MIGRATION_LOCK = 7_347_001;
/** Held (tried, not waited for) by the one replica purging old entries at a time. */
export const PURGE_LOCK = 7_347_002;

export const SCHEMA_TABLE = 'capillary_schema';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ledger entries',
    sql: `
      CREATE TABLE capillary_ledger (
        key         text PRIMARY KEY,
        fingerprint text NOT NULL,
        meaning     text,
        customer    text NOT NULL,
        -- the customer key and every identifier the call named: an unsettled attempt blocks all
        idents      text[] NOT NULL,
        status      text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
        points      double precision NOT NULL,
        at          bigint NOT NULL,
        updated     bigint NOT NULL,
        owner       text,
        -- the whole entry as the file ledger writes it (json keeps its key order for replays)
        entry       json NOT NULL
      );
      CREATE INDEX capillary_ledger_fingerprint ON capillary_ledger (fingerprint, at DESC);
      CREATE INDEX capillary_ledger_meaning ON capillary_ledger (meaning, at DESC) WHERE meaning IS NOT NULL;
      -- the caps: one customer's last 24 h, a bounded range of this index
      CREATE INDEX capillary_ledger_customer_at ON capillary_ledger (customer, at);
      -- attempts whose outcome is not known, by any identity, at any age
      CREATE INDEX capillary_ledger_open ON capillary_ledger USING gin (idents)
        WHERE status IN ('pending', 'unknown');
      -- retention: settled entries by age
      CREATE INDEX capillary_ledger_settled_at ON capillary_ledger (at)
        WHERE status IN ('succeeded', 'failed');
    `,
  },
];

/** Columns of an entry row, in the order ENTRY_VALUES binds them ($1..$10). */
export const ENTRY_COLUMNS =
  'key, fingerprint, meaning, customer, idents, status, points, at, updated, owner, entry';

const OPEN = `status IN ('pending', 'unknown')`;

/**
 * Everything one decision can read, in one statement (one snapshot): the agent's key ($1), the
 * newest entry by fingerprint ($2) and by meaning ($3) within the horizon ($5), the unsettled
 * attempts of any identity ($4), and the customer's ($6) counted spending since $7.
 */
export const VIEW_SQL = `
  SELECT 'k' AS why, entry FROM capillary_ledger WHERE key = $1 AND (at >= $5 OR ${OPEN})
  UNION ALL (SELECT 'f', entry FROM capillary_ledger WHERE fingerprint = $2 AND at >= $5 ORDER BY at DESC LIMIT 1)
  UNION ALL (SELECT 'm', entry FROM capillary_ledger WHERE meaning = $3 AND at >= $5 ORDER BY at DESC LIMIT 1)
  UNION ALL SELECT 'u', entry FROM capillary_ledger WHERE idents && $4::text[] AND ${OPEN}
  UNION ALL SELECT 's', json_build_object('at', at, 'points', points) FROM capillary_ledger
    WHERE customer = $6 AND at >= $7 AND status <> 'failed'`;

/** Transaction advisory locks on each identity, taken in one order (no lock-order deadlock). */
export const LOCK_SQL = `
  SELECT count(pg_advisory_xact_lock(h)) FROM (
    SELECT DISTINCT hashtextextended('capillary:' || x, 0) AS h FROM unnest($1::text[]) AS x ORDER BY 1
  ) AS locks`;

export const INSERT_SQL = `INSERT INTO capillary_ledger (${ENTRY_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;

export const UPSERT_SQL = `${INSERT_SQL}
  ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, meaning = EXCLUDED.meaning,
    customer = EXCLUDED.customer, idents = EXCLUDED.idents, status = EXCLUDED.status,
    points = EXCLUDED.points, at = EXCLUDED.at, updated = EXCLUDED.updated, owner = EXCLUDED.owner,
    entry = EXCLUDED.entry`;

/** Ends an attempt of this process only if it is still the pending entry this process wrote. */
export const VOID_SQL = `UPDATE capillary_ledger SET status = $4, updated = $5, entry = $6
  WHERE key = $1 AND owner = $2 AND at = $3 AND status = 'pending'`;

export const SPENT_SQL = `SELECT coalesce(sum(round((points * 1000)::numeric)), 0)::float8 / 1000 AS spent
  FROM capillary_ledger WHERE customer = $1 AND at >= $2 AND status <> 'failed'`;

/** One batch of settled entries older than $1; unsettled ones are never purged. */
export const PURGE_SQL = `DELETE FROM capillary_ledger WHERE key IN (
  SELECT key FROM capillary_ledger WHERE status IN ('succeeded', 'failed') AND at < $1 LIMIT $2)`;

export const OPEN_SQL = `SELECT entry FROM capillary_ledger WHERE ${OPEN} ORDER BY at`;
