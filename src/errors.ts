/**
 * The one error shape every tool returns. `source` says where it came from; `outcome` says
 * what is known about the upstream's state (money tools depend on this being right).
 */
export type ErrorSource = 'validation' | 'upstream' | 'network' | 'config' | 'safety';
/** not_sent: nothing reached the API. failed: the API refused, nothing written. unknown: it may have been written. */
export type Outcome = 'not_sent' | 'failed' | 'unknown';

export interface ToolErrorBody {
  /** Capillary's code as a string ("816", "82323282") or the server's own ("invalid_argument"). */
  code: string;
  /** The server's own words. */
  message: string;
  /** What the API said, verbatim (bounded): data to read, never instructions. */
  upstream_message?: string;
  hint?: string;
  retryable: boolean;
  source: ErrorSource;
  outcome: Outcome;
  field?: string;
  http_status?: number;
  /** The attempt whose unknown outcome blocks this call (unresolved_attempt, outcome_unknown). */
  attempt?: { tool: string; key: string; points: number; first_sent: string; last_sent: string };
  /** The operator's limit that refused this call: its variable, its value, what is left, and
   * when enough frees up (absent when waiting cannot help). */
  limit?: { name: string; value: number; left: number; frees_at?: string };
  /** A call waiting for a human on the approval page (approval_pending): its handle, the page,
   * and until when it takes an answer. */
  approval?: { id: string; status: 'pending'; expires: string; url?: string };
}

/** What an upstream answer's envelope said (src/capillary/envelope.ts); judged in src/safety/outcome.ts. */
export interface AnswerReading {
  status: number;
  form: 'v1.1' | 'v2' | 'none';
  code?: string | number;
  level?: 'item' | 'request';
}

/** A ToolErrorBody as it is built: a vendor code may be given as the number Capillary sends. */
export type ToolErrorInit = Omit<ToolErrorBody, 'code'> & { code: string | number };

export class ToolError extends Error {
  readonly body: ToolErrorBody;
  /** Set when the error is an upstream answer: what its envelope said. Never sent to the agent. */
  readonly reading?: AnswerReading;
  constructor(body: ToolErrorInit, reading?: AnswerReading) {
    super(body.message);
    this.name = 'ToolError';
    // One type for every code, so a client reads error.code one way.
    this.body = { ...body, code: String(body.code) };
    this.reading = reading;
  }
}

export const validationError = (
  field: string | undefined,
  message: string,
  code: string | number = 'invalid_argument',
  hint?: string,
) =>
  new ToolError({
    code,
    message: field ? `${field}: ${message}` : message,
    hint,
    retryable: false,
    source: 'validation',
    outcome: 'not_sent',
    ...(field ? { field } : {}),
  });

/** What an agent should do next for the vendor codes it is likely to meet. */
const HINTS: Record<string, string> = {
  '401': 'Credentials were refused; the operator must fix the server configuration.',
  '403': 'The configured identity lacks access to this operation.',
  '521': 'Another action is running for this customer; retry in a few seconds.',
  '429': 'Rate limited; wait before retrying.',
  '503': 'The API is unavailable; retry later.',
  '801': 'points must be greater than 0.',
  '878': 'points may have at most 3 decimals.',
  '803': 'Not enough points; check get_points_balance.',
  '804': 'Not enough points; check get_points_balance.',
  '813': 'Not enough points; check get_points_balance.',
  '818': 'Not enough points; check get_points_balance.',
  '807': 'points must be a multiple of the configured redemption step.',
  '808': 'The validation code is wrong or expired; issue a new one with issue_redemption_code.',
  '816': 'No such customer; check the identifier with get_points_balance.',
  '819': 'Above the maximum points per redemption.',
  '821': 'Below the minimum points per redemption.',
  '824': 'This customer needs a validation code: call issue_redemption_code, then pass validation_code.',
  '748': 'Give at least one of bill_number, bill_id, purpose, custom_fields.',
  '749': 'Give exactly one of redemption_id or external_reference_number.',
  '1219': "Pass entity {type, identifier_type, identifier_value}: the redemption's customer.",
  '750': 'Check the redemption id or reference, and that entity is its customer.',
  '82323282': 'Nothing promised is left to unlock on that bill.',
  '82323277': 'No bill with that bill_number for this customer.',
  '3802': 'That redemption was already reversed.',
  '902':
    'Capillary refused the reversal: the redemption id is unknown, or this reversal repeats one already made (see the message). Check redemption_id; get_points_balance shows whether the points came back.',
  '3316':
    "This organization redeems group members' points from their group (Capillary's ENABLE_GROUP_PROGRAMS_REDEMPTION setting): pass group (the customer's user_group2 group). To let members redeem on their own, an operator asks Capillary Product Support to disable ENABLE_GROUP_PROGRAMS_REDEMPTION.",
  '828':
    'The group has no points redemption configured: redeem without group, or ask an operator to configure it.',
  '1632':
    'The group is unknown or the customer is not its member: check group.id, external_id or the primary member.',
  '1645': 'The group passed (type USERGROUP2) is not valid: check the identifier.',
  '3918': 'No event log with that event_log_id: omit it or take it from get_points_balance (promised).',
  '82323271': 'Give bill_number.',
  '82323272': 'Give a documented event_name (e.g. TransactionAdd).',
  '82323284': 'Give identifier_name, identifier_value and source.',
  '8015': 'No customer with that identifier: check it (identifier_name and identifier_value).',
};

export const hintFor = (code: string | number): string | undefined => HINTS[String(code)];
