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
