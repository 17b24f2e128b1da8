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

/** The running sums' bucket (migration 3): a window reads at most this much of a customer's rows. */
export const SUM_BUCKET_MS = 600_000;

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
  {
    version: 4,
    name: 'running sums per customer and 10-minute bucket',
    sql: `
      -- What each customer's entries add up to, per 10-minute bucket of their time (at), kept by
      -- a trigger in the transaction that writes the entry: a window's sum reads the buckets
      -- after its edge and only the edge bucket's own rows.
      CREATE TABLE capillary_sums (
        customer  text NOT NULL,
        bucket    bigint NOT NULL,
        -- thousandths of a point counted against the caps (money attempts not failed)
        spent     numeric NOT NULL,
        -- thousandths moved for the customer (the confirmation budget), reversals of "all" apart
        moved     numeric NOT NULL,
        moved_all bigint NOT NULL,
        -- validation codes sent
        codes     bigint NOT NULL,
        PRIMARY KEY (customer, bucket)
      );
      -- An entry's share of its bucket (NULL when it adds nothing).
      CREATE FUNCTION capillary_sums_of(r capillary_ledger) RETURNS capillary_sums
      LANGUAGE sql IMMUTABLE AS $fn$
        SELECT s.* FROM (SELECT
          r.customer AS customer,
          div(r.at, ${SUM_BUCKET_MS})::bigint AS bucket,
          CASE WHEN r.kind IS NULL AND r.status <> 'failed'
            THEN round((r.points * 1000)::numeric) ELSE 0 END AS spent,
          CASE WHEN r.kind IS NULL AND r.status <> 'failed' AND NOT r.moved_all
            THEN round((coalesce(r.moved, r.points) * 1000)::numeric) ELSE 0 END AS moved,
          CASE WHEN r.kind IS NULL AND r.status <> 'failed' AND r.moved_all THEN 1 ELSE 0 END::bigint AS moved_all,
          CASE WHEN r.kind = 'code' THEN 1 ELSE 0 END::bigint AS codes
        ) AS s WHERE s.spent <> 0 OR s.moved <> 0 OR s.moved_all <> 0 OR s.codes <> 0
      $fn$;
      CREATE FUNCTION capillary_sums_add(s capillary_sums, sign integer) RETURNS void
      LANGUAGE sql AS $fn$
        INSERT INTO capillary_sums AS t (customer, bucket, spent, moved, moved_all, codes)
        VALUES (s.customer, s.bucket, sign * s.spent, sign * s.moved, sign * s.moved_all, sign * s.codes)
        ON CONFLICT (customer, bucket) DO UPDATE SET spent = t.spent + EXCLUDED.spent,
          moved = t.moved + EXCLUDED.moved, moved_all = t.moved_all + EXCLUDED.moved_all,
          codes = t.codes + EXCLUDED.codes
      $fn$;
      CREATE FUNCTION capillary_sums_track() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        o capillary_sums;
        n capillary_sums;
      BEGIN
        IF TG_OP <> 'INSERT' THEN o := capillary_sums_of(OLD); END IF;
        IF TG_OP <> 'DELETE' THEN n := capillary_sums_of(NEW); END IF;
        -- An outcome that changes no sum (pending to succeeded) writes nothing more.
        IF o IS NOT DISTINCT FROM n THEN RETURN NULL; END IF;
        IF o.customer IS NOT NULL THEN PERFORM capillary_sums_add(o, -1); END IF;
        IF n.customer IS NOT NULL THEN PERFORM capillary_sums_add(n, 1); END IF;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER capillary_sums AFTER INSERT OR UPDATE OR DELETE ON capillary_ledger
        FOR EACH ROW EXECUTE FUNCTION capillary_sums_track();
      -- The entries already there (the trigger's lock on the table keeps writers out meanwhile).
      INSERT INTO capillary_sums (customer, bucket, spent, moved, moved_all, codes)
        SELECT (s).customer, (s).bucket, sum((s).spent), sum((s).moved), sum((s).moved_all), sum((s).codes)
        FROM (SELECT capillary_sums_of(l) AS s FROM capillary_ledger l) AS x
        WHERE s IS NOT NULL GROUP BY 1, 2;
    `,
  },
  {
    version: 5,
    name: 'money attempts by fingerprint and by meaning; running sums in PL/pgSQL',
    sql: `
      -- The reserve step's newest money attempt by fingerprint and by meaning (VIEW_SQL 'f' and
      -- 'm'): indexes whose predicate is the lookup's own (kind IS NULL), so that the planner
      -- never prefers the money rows by time (capillary_ledger_money_at) and filters a whole day
      -- of rows. It did while the table had no statistics yet (a young or fast-growing table,
      -- before autovacuum's first ANALYZE): a cost that grew with the day's entries.
      CREATE INDEX capillary_ledger_money_fingerprint ON capillary_ledger (fingerprint, at DESC)
        WHERE kind IS NULL;
      -- every lookup by fingerprint is of money attempts: the partial index replaces the old one
      DROP INDEX capillary_ledger_fingerprint;
      CREATE INDEX capillary_ledger_money_meaning ON capillary_ledger (meaning, at DESC)
        WHERE kind IS NULL AND meaning IS NOT NULL;
      -- The running sums' functions (migration 4) in PL/pgSQL, same results: a LANGUAGE sql
      -- function called from the trigger was parsed and planned again at every call (three per
      -- written entry, ~0.3 ms of the database's CPU per redemption); PL/pgSQL keeps its plans.
      CREATE OR REPLACE FUNCTION capillary_sums_of(r capillary_ledger) RETURNS capillary_sums
      LANGUAGE plpgsql IMMUTABLE AS $fn$
      DECLARE
        s capillary_sums;
        counts boolean := r.kind IS NULL AND r.status <> 'failed';
      BEGIN
        s.customer := r.customer;
        s.bucket := div(r.at, ${SUM_BUCKET_MS})::bigint;
        s.spent := CASE WHEN counts THEN round((r.points * 1000)::numeric) ELSE 0 END;
        s.moved := CASE WHEN counts AND NOT r.moved_all
          THEN round((coalesce(r.moved, r.points) * 1000)::numeric) ELSE 0 END;
        s.moved_all := CASE WHEN counts AND r.moved_all THEN 1 ELSE 0 END;
        s.codes := CASE WHEN r.kind = 'code' THEN 1 ELSE 0 END;
        IF s.spent <> 0 OR s.moved <> 0 OR s.moved_all <> 0 OR s.codes <> 0 THEN RETURN s; END IF;
        RETURN NULL;
      END
      $fn$;
      CREATE OR REPLACE FUNCTION capillary_sums_add(s capillary_sums, sign integer) RETURNS void
      LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO capillary_sums AS t (customer, bucket, spent, moved, moved_all, codes)
        VALUES (s.customer, s.bucket, sign * s.spent, sign * s.moved, sign * s.moved_all, sign * s.codes)
        ON CONFLICT (customer, bucket) DO UPDATE SET spent = t.spent + EXCLUDED.spent,
          moved = t.moved + EXCLUDED.moved, moved_all = t.moved_all + EXCLUDED.moved_all,
          codes = t.codes + EXCLUDED.codes;
      END
      $fn$;
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
 * A customer's ($6) running sum since a time: the buckets after the one the window starts in
 * (capillary_sums), plus that edge bucket's own rows at or after the start. `column` is the
 * bucket column, `what` and `where` the same sum over the rows.
 */
const bucketed = (column: string, since: string, what: string, where: string) => {
  // Whole milliseconds (bigint, as \`at\`): the bounds stay index ranges.
  const edge = `(${since}::bigint / ${SUM_BUCKET_MS})`;
  return `((SELECT coalesce(sum(${column}), 0) FROM capillary_sums WHERE customer = $6 AND bucket > ${edge})
    + (SELECT coalesce(sum(${what}), 0) FROM capillary_ledger WHERE customer = $6 AND at >= ${since}
        AND at < (${edge} + 1) * ${SUM_BUCKET_MS} AND ${where}))::float8`;
};

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
 * A customer's sums read the running sums of migration 3 (capillary_sums) and the rows of one
 * 10-minute bucket: their cost does not grow with the customer's day. The per-server sum reads
 * the window's money rows (a running sum shared by every customer would make every write of
 * every customer wait on one row).
 */
const VIEW_BRANCHES: ReadonlyArray<readonly [sql: string, on?: number]> = [
  [
    `SELECT 'k' AS why, entry, NULL::float8 AS n FROM capillary_ledger WHERE key = $1 AND (at >= $5 OR ${OPEN})`,
  ],
  [
    `(SELECT 'f', entry, NULL FROM capillary_ledger
    WHERE fingerprint = $2 AND ${MONEY} AND at >= $5 ORDER BY at DESC LIMIT 1)`,
  ],
  [
    `(SELECT 'm', entry, NULL FROM capillary_ledger
    WHERE meaning = $3 AND ${MONEY} AND at >= $5 ORDER BY at DESC LIMIT 1)`,
  ],
  [`SELECT 'u', entry, NULL FROM capillary_ledger WHERE idents && $4::text[] AND ${OPEN}`],
  [`SELECT 's', NULL, ${bucketed('spent', '$7', MILLI('points'), COUNTS)} WHERE $8`, 8],
  [`SELECT 'S', NULL, ${sum(MILLI('points'), `at >= $7 AND ${COUNTS}`)} WHERE $9`, 9],
  [
    `SELECT 'v', NULL, ${bucketed('moved', '$11', MILLI(MOVED), `${COUNTS} AND NOT moved_all`)} WHERE $10`,
    10,
  ],
  [`SELECT 'V', NULL, ${bucketed('moved_all', '$11', '1', `${COUNTS} AND moved_all`)} WHERE $10`, 10],
  [
    `(SELECT 'd', entry, NULL FROM capillary_ledger
    WHERE $10 AND kind = 'answer' AND answer <> 'accept' AND idents && $4::text[] AND at >= $12
    ORDER BY at DESC LIMIT 1)`,
    10,
  ],
  [`SELECT 'c', NULL, ${bucketed('codes', '$14', '1', "kind = 'code'")} WHERE $13`, 13],
  [
    `(SELECT 'a', a.entry, CASE WHEN EXISTS (SELECT 1 FROM capillary_ledger u
      WHERE u.approval = a.key AND u.kind IS NULL AND u.status <> 'failed') THEN 1 ELSE 0 END
    FROM capillary_ledger a WHERE $10 AND a.key = $15 AND a.kind = 'answer' AND a.answer = 'accept' AND a.at >= $5)`,
    10,
  ],
  [
    `(SELECT 'y', a.entry, CASE WHEN EXISTS (SELECT 1 FROM capillary_ledger u
      WHERE u.approval = a.key AND u.kind IS NULL AND u.status <> 'failed') THEN 1 ELSE 0 END
    FROM capillary_ledger a WHERE $10 AND a.meaning = $3 AND a.kind = 'answer' AND a.answer = 'accept'
      AND a.at >= $5 ORDER BY a.at DESC LIMIT 1)`,
    10,
  ],
];

export const VIEW_SQL = VIEW_BRANCHES.map(([sql]) => sql).join('\n  UNION ALL ');

/**
 * VIEW_SQL without the parts its parameters switch off ($8, $9, $10, $13 false): the same rows
 * (a part switched off reads none), for a statement whose parameters are written in as literals
 * (inline). Planning every part of VIEW_SQL, the ones that read nothing too, cost the database
 * about 0.7 ms per decision; the parts a plain redemption reads plan in about 0.2 ms.
 */
export const viewSql = (params: readonly unknown[]) =>
  VIEW_BRANCHES.filter(([, on]) => on === undefined || params[on - 1] === true)
    .map(([sql]) => sql)
    .join('\n  UNION ALL ');

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
/** The running sums of buckets wholly before $1 (no window starts that early). */
export const PURGE_SUMS_SQL = `DELETE FROM capillary_sums WHERE bucket < $1::bigint / ${SUM_BUCKET_MS}`;

export const OPEN_SQL = `SELECT entry FROM capillary_ledger WHERE ${OPEN} ORDER BY at`;
