import { ToolError } from '../errors.js';
import { DurableAppender, type Until } from './appender.js';

export interface AuditRecord {
  time: string;
  tool: string;
  arguments: unknown;
  idempotency_key?: string;
  /**
   * `attempt`: about to be sent, on disk before anything is (the outcome follows in a later
   * line; an attempt with none after it means the process died in between, and the ledger has
   * the answer). The others are the call's outcome, or an operator's settlement.
   */
  outcome:
    | 'attempt'
    | 'succeeded'
    | 'failed'
    | 'unknown'
    | 'replayed'
    | 'refused'
    | 'dry_run'
    | 'not_sent'
    | 'settled_applied'
    | 'settled_not_applied'
    | 'approved'
    | 'declined'
    | 'cooldown_lifted';
  /** Who settled an unknown attempt by hand (or answered on the approval page), and why. */
  settled_by?: string;
  reason?: string;
  upstream_status?: number;
  code?: string | number;
  duration_ms: number;
  environment: 'live' | 'sandbox';
}

/**
 * JSON lines for every mutating call: its attempt, then its outcome. A write resolves once the
 * line is in the file (`written`, its fsync follows at once) or on disk (`synced`: attempts).
 * Every record is redacted here, at the file's door.
 */
export class AuditLog {
  private readonly out: DurableAppender;
  constructor(
    path: string,
    /** The server passes its secret redactor (the operator CLI, which holds no secret, none). */
    private readonly redactor?: { value<T>(v: T): T },
  ) {
    this.out = new DurableAppender(path);
  }
  write(r: AuditRecord, until: Until = 'written'): Promise<void> {
    return this.out.append(JSON.stringify(this.redactor ? this.redactor.value(r) : r), until);
  }
  close(): Promise<void> {
    return this.out.close();
  }
}

/** What writing an audit record needs: the log, the environment label. */
export interface AuditSink {
  audit: Pick<AuditLog, 'write'>;
  log: { error(msg: string, f?: Record<string, unknown>): void };
  environment: AuditRecord['environment'];
}

export interface AuditEvent {
  tool: string;
  args: Record<string, unknown>;
  outcome: AuditRecord['outcome'];
  started: number;
  status?: number;
  code?: string | number;
  key?: string;
}

const record = (sink: AuditSink, ev: AuditEvent): AuditRecord => ({
  time: new Date().toISOString(),
  tool: ev.tool,
  arguments: ev.args,
  ...(ev.key ? { idempotency_key: ev.key } : {}),
  outcome: ev.outcome,
  ...(ev.status !== undefined ? { upstream_status: ev.status } : {}),
  ...(ev.code !== undefined ? { code: ev.code } : {}),
  duration_ms: Date.now() - ev.started,
  environment: sink.environment,
});

/**
 * Writes an outcome record (or a dry run's, a replay's). A failure is logged: the call's outcome
 * is decided by then, and its attempt record is already on disk.
 */
export async function recordAudit(sink: AuditSink, ev: AuditEvent): Promise<void> {
  try {
    await sink.audit.write(record(sink, ev));
  } catch (e) {
    sink.log.error('audit log write failed', { error: String(e) });
  }
}

/**
 * Writes a call's attempt record and waits until it is on disk: the audit log fails closed.
 * If it cannot be written, the call is not sent (a ToolError with outcome not_sent).
 */
export async function recordAttempt(sink: AuditSink, ev: Omit<AuditEvent, 'outcome'>): Promise<void> {
  try {
    await sink.audit.write(record(sink, { ...ev, outcome: 'attempt' }), 'synced');
  } catch (e) {
    sink.log.error('audit log unavailable; refusing to send', { error: String(e) });
    throw new ToolError({
      code: 'audit_unavailable',
      message:
        'The audit log could not be written, so nothing was sent: every write to the API is recorded first.',
      hint: 'The operator must check CAPILLARY_AUDIT_LOG (disk space, permissions). Retrying is safe.',
      retryable: true,
      source: 'config',
      outcome: 'not_sent',
    });
  }
}
