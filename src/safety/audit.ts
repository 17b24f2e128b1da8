import { DurableAppender } from './appender.js';

export interface AuditRecord {
  time: string;
  tool: string;
  arguments: unknown;
  idempotency_key?: string;
  outcome: 'succeeded' | 'failed' | 'unknown' | 'replayed' | 'refused' | 'dry_run' | 'not_sent';
  upstream_status?: number;
  code?: string | number;
  duration_ms: number;
  environment: 'live' | 'sandbox';
}

/**
 * One JSON line per mutating attempt. A write resolves once the line is in the file; its fsync
 * (group commit) follows at once. Arguments arrive already redacted.
 */
export class AuditLog {
  private readonly out: DurableAppender;
  constructor(path: string) {
    this.out = new DurableAppender(path);
  }
  write(r: AuditRecord): Promise<void> {
    return this.out.append(JSON.stringify(r), 'written');
  }
  close(): Promise<void> {
    return this.out.close();
  }
}

/** What writing an audit record needs: the log, redaction, the environment label. */
export interface AuditSink {
  audit: AuditLog;
  redactor: { value<T>(v: T): T };
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

/** Writes one audit record; a failure is logged (the call's outcome is already decided). */
export async function recordAudit(sink: AuditSink, ev: AuditEvent): Promise<void> {
  try {
    await sink.audit.write({
      time: new Date().toISOString(),
      tool: ev.tool,
      arguments: sink.redactor.value(ev.args),
      ...(ev.key ? { idempotency_key: ev.key } : {}),
      outcome: ev.outcome,
      ...(ev.status !== undefined ? { upstream_status: ev.status } : {}),
      ...(ev.code !== undefined ? { code: ev.code } : {}),
      duration_ms: Date.now() - ev.started,
      environment: sink.environment,
    });
  } catch (e) {
    sink.log.error('audit log write failed', { error: String(e) });
  }
}
