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
  {
    version: 2,
    name: 'answers, validation codes, points moved, approvals',
    sql: `
      -- NULL: a money attempt; 'answer': a human's answer to a question; 'code': a validation code
      ALTER TABLE capillary_ledger ADD COLUMN kind text CHECK (kind IN ('answer', 'code'));
      -- points moved for the customer (the confirmation budget) when not points (NULL: points)
      ALTER TABLE capillary_ledger ADD COLUMN moved double precision;
      -- a reversal of "all": the budget is spent whatever it holds
      ALTER TABLE capillary_ledger ADD COLUMN moved_all boolean NOT NULL DEFAULT false;
      -- the question whose yes this attempt spends
      ALTER TABLE capillary_ledger ADD COLUMN approval text;
      -- an answer's accept | decline | cancel
      ALTER TABLE capillary_ledger ADD COLUMN answer text;
      CREATE INDEX capillary_ledger_approval ON capillary_ledger (approval) WHERE approval IS NOT NULL;
      -- a human's "no" by any identity
      CREATE INDEX capillary_ledger_declines ON capillary_ledger USING gin (idents)
        WHERE kind = 'answer' AND answer <> 'accept';
      -- the per-server cap: every customer's money rows of the last 24 h
      CREATE INDEX capillary_ledger_money_at ON capillary_ledger (at) WHERE kind IS NULL;
    `,
  },
  {
    version: 3,
    name: 'approval requests',
    sql: `
      -- 'approval': a question waiting for a human on the approval page (approvals.ts)
      ALTER TABLE capillary_ledger DROP CONSTRAINT IF EXISTS capillary_ledger_kind_check;
      ALTER TABLE capillary_ledger ADD CONSTRAINT capillary_ledger_kind_check
        CHECK (kind IN ('answer', 'code', 'approval'));
    `,
  },
];

/** Columns of an entry row, in the order row() (pg-view.ts) binds them ($1..$16). */
export const ENTRY_COLUMNS =
  'key, fingerprint, meaning, customer, idents, status, points, at, updated, owner, entry, kind, moved, moved_all, approval, answer';

const OPEN = `status IN ('pending', 'unknown')`;
/** A money attempt (not a human's answer, not a validation code). */
const MONEY = 'kind IS NULL';
/** Counted against the caps and the confirmation budget: pending, unknown and succeeded. */
const COUNTS = `${MONEY} AND status <> 'failed'`;
/** Points as whole thousandths (as the in-memory index sums them): no float noise. */
const MILLI = (col: string) => `round((${col} * 1000)::numeric)`;
/** Points moved for the customer (the confirmation budget): `moved` when the attempt has one. */
const MOVED = 'coalesce(moved, points)';
const sum = (what: string, where: string) =>
  `(SELECT coalesce(sum(${what}), 0)::float8 FROM capillary_ledger WHERE ${where})`;

/**
 * Everything one decision can read, in one statement (one snapshot), as rows (why, entry, n):
 * - 'k' the agent's key ($1); 'f' and 'm' the newest money attempt by fingerprint ($2) and by
 *   meaning ($3) within the horizon ($5); 'u' the unsettled attempts of any identity ($4);
 * - the sums, each when the decision reads it: 's' the customer's ($6) spending since $7 ($8),
 *   'S' everyone's since $7 ($9, the per-server cap); 'v' the points moved for the customer
 *   since $11 and 'V' the reversals of "all" among them, 'd' the newest "no" of a human about
 *   any identity since $12 ($10, confirmation); 'c' the validation codes since $14 ($13);
 * - 'a' the yes given to this call ($15) and 'y' the newest yes to this operation (by meaning),
 *   each with n = 1 when an attempt that is not failed spent it ($10).
 * Each is a bounded range of an index; the per-server sum reads the window's money rows.
 */
export const VIEW_SQL = `
  SELECT 'k' AS why, entry, NULL::float8 AS n FROM capillary_ledger WHERE key = $1 AND (at >= $5 OR ${OPEN})
  UNION ALL (SELECT 'f', entry, NULL FROM capillary_ledger
    WHERE fingerprint = $2 AND ${MONEY} AND at >= $5 ORDER BY at DESC LIMIT 1)
  UNION ALL (SELECT 'm', entry, NULL FROM capillary_ledger
    WHERE meaning = $3 AND ${MONEY} AND at >= $5 ORDER BY at DESC LIMIT 1)
  UNION ALL SELECT 'u', entry, NULL FROM capillary_ledger WHERE idents && $4::text[] AND ${OPEN}
  UNION ALL SELECT 's', NULL, ${sum(MILLI('points'), `customer = $6 AND at >= $7 AND ${COUNTS}`)} WHERE $8
  UNION ALL SELECT 'S', NULL, ${sum(MILLI('points'), `at >= $7 AND ${COUNTS}`)} WHERE $9
  UNION ALL SELECT 'v', NULL, ${sum(MILLI(MOVED), `customer = $6 AND at >= $11 AND ${COUNTS} AND NOT moved_all`)} WHERE $10
  UNION ALL SELECT 'V', NULL, ${sum('1', `customer = $6 AND at >= $11 AND ${COUNTS} AND moved_all`)} WHERE $10
  UNION ALL (SELECT 'd', entry, NULL FROM capillary_ledger
    WHERE $10 AND kind = 'answer' AND answer <> 'accept' AND idents && $4::text[] AND at >= $12
    ORDER BY at DESC LIMIT 1)
  UNION ALL SELECT 'c', NULL, ${sum('1', `customer = $6 AND kind = 'code' AND at >= $14`)} WHERE $13
  UNION ALL (SELECT 'a', a.entry, CASE WHEN EXISTS (SELECT 1 FROM capillary_ledger u
      WHERE u.approval = a.key AND u.kind IS NULL AND u.status <> 'failed') THEN 1 ELSE 0 END
    FROM capillary_ledger a WHERE $10 AND a.key = $15 AND a.kind = 'answer' AND a.answer = 'accept' AND a.at >= $5)
  UNION ALL (SELECT 'y', a.entry, CASE WHEN EXISTS (SELECT 1 FROM capillary_ledger u
      WHERE u.approval = a.key AND u.kind IS NULL AND u.status <> 'failed') THEN 1 ELSE 0 END
    FROM capillary_ledger a WHERE $10 AND a.meaning = $3 AND a.kind = 'answer' AND a.answer = 'accept'
      AND a.at >= $5 ORDER BY a.at DESC LIMIT 1)`;

/**
 * When a running sum has freed $3 (see Index.freedBy): the time of the row whose leaving the
 * window since $2, with every older one, takes that much off it. Of one customer ($1), or of
 * everyone ($1 NULL). Walks the window's rows in time order: for refusals only.
 */
export const freedSql = (measure: 'spent' | 'moved' | 'codes') => {
  const [amount, where] =
    measure === 'codes'
      ? ['1', "kind = 'code'"]
      : measure === 'spent'
        ? [`CASE WHEN status <> 'failed' THEN ${MILLI('points')} ELSE 0 END`, MONEY]
        : [`CASE WHEN status <> 'failed' AND NOT moved_all THEN ${MILLI(MOVED)} ELSE 0 END`, MONEY];
  return `SELECT at FROM (
    SELECT at, sum(${amount}) OVER (ORDER BY at, key) AS acc FROM capillary_ledger
    WHERE ($1::text IS NULL OR customer = $1) AND at >= $2 AND ${where}
  ) AS w WHERE acc >= $3 ORDER BY at LIMIT 1`;
};

/** Transaction advisory locks on each identity, taken in one order (no lock-order deadlock). */
export const LOCK_SQL = `
  SELECT count(pg_advisory_xact_lock(h)) FROM (
    SELECT DISTINCT hashtextextended('capillary:' || x, 0) AS h FROM unnest($1::text[]) AS x ORDER BY 1
  ) AS locks`;

export const INSERT_SQL = `INSERT INTO capillary_ledger (${ENTRY_COLUMNS})
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`;

export const UPSERT_SQL = `${INSERT_SQL}
  ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, meaning = EXCLUDED.meaning,
    customer = EXCLUDED.customer, idents = EXCLUDED.idents, status = EXCLUDED.status,
    points = EXCLUDED.points, at = EXCLUDED.at, updated = EXCLUDED.updated, owner = EXCLUDED.owner,
    entry = EXCLUDED.entry, kind = EXCLUDED.kind, moved = EXCLUDED.moved,
    moved_all = EXCLUDED.moved_all, approval = EXCLUDED.approval, answer = EXCLUDED.answer`;

/** Ends an attempt of this process only if it is still the pending entry this process wrote. */
export const VOID_SQL = `UPDATE capillary_ledger SET status = $4, updated = $5, entry = $6
  WHERE key = $1 AND owner = $2 AND at = $3 AND status = 'pending'`;

/** A customer's ($1; '*' for everyone) counted spending since $2. */
export const SPENT_SQL = `SELECT ${sum(MILLI('points'), `($1 = '*' OR customer = $1) AND at >= $2 AND ${COUNTS}`)} / 1000 AS spent`;

/** One batch of settled entries older than $1; unsettled ones are never purged. */
export const PURGE_SQL = `DELETE FROM capillary_ledger WHERE key IN (
  SELECT key FROM capillary_ledger WHERE status IN ('succeeded', 'failed') AND at < $1 LIMIT $2)`;

/** Entries at or after $1, newest first, at most $2 (the operator console). */
export const RECENT_SQL = 'SELECT entry FROM capillary_ledger WHERE at >= $1 ORDER BY at DESC, key LIMIT $2';
/** The same, of one operation ($3): a range of the meaning index (a money call's approval). */
export const RECENT_BY_MEANING_SQL =
  'SELECT entry FROM capillary_ledger WHERE meaning = $3 AND at >= $1 ORDER BY at DESC, key LIMIT $2';

/** A human's answer, written only if its question has none yet (the key is the question's id). */
export const ANSWER_ONCE_SQL = `${INSERT_SQL} ON CONFLICT (key) DO NOTHING`;

export const OPEN_SQL = `SELECT entry FROM capillary_ledger WHERE ${OPEN} ORDER BY at`;
