/**
 * What every sandbox endpoint shares: the Reply type and its envelopes, small readers for JSON
 * values, and SandboxCore (the state, the clock, persistence after a mutation, and the fault
 * customers). The endpoints themselves live in ./endpoints/, one file per family, like tools/.
 * No I/O here except saving the state file after a mutation.
 */
import { SANDBOX_CREDENTIALS } from './credentials.js';
import { scalarText } from './points.js';
import type { FaultKind } from './seed.js';
import type { CustomerRec, Store } from './state.js';
import { saveState } from './state-file.js';

export type Version = 'v1' | 'v2';

export interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
  /** destroy the connection instead of answering (lost_response fault) */
  destroy?: boolean;
  /** set when the reply is a transient fault (500/521/429): nothing was written */
  fault?: FaultKind;
}

/** Minimal read-only view of query parameters (URLSearchParams fits). */
export interface Params {
  get(name: string): string | null;
  keys(): IterableIterator<string>;
}

export interface CoreOptions {
  now: () => number;
  otpValidityMs: number;
  oauthTtlSeconds: number;
}

export const ORG_ID = Number(SANDBOX_CREDENTIALS.orgId);
export const TILL_ID = 50010001;
export const WORKFLOW_USER = { userId: 75001, userName: 'sandbox.maker@example.com' };

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isTrue = (v: string | null | undefined) => v != null && v.trim().toLowerCase() === 'true';

/** The trimmed text of a string or number value; null when absent or empty. */
export function text(v: unknown): string | null {
  const t = scalarText(v);
  return t === undefined || t === '' ? null : t;
}

/** Query parameters from a JSON object of scalars (a workflow request's embedded queryParams). */
export function queryOf(v: unknown): URLSearchParams {
  const q = new URLSearchParams();
  if (!isObj(v)) return q;
  for (const [k, x] of Object.entries(v)) {
    const t = scalarText(x);
    if (t !== undefined) q.set(k, t);
  }
  return q;
}

export function reply(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(body), headers };
}

export function v1Error(
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
): Reply {
  return reply(status, { response: { status: { success: 'false', code, message } } }, headers);
}

export function v2Error(
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
): Reply {
  return reply(status, { errors: [{ status: false, code, message }], warnings: [] }, headers);
}

export function errorFor(
  version: Version,
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
) {
  return version === 'v1' ? v1Error(status, code, message, headers) : v2Error(status, code, message, headers);
}

/** ISO date-time in UTC without milliseconds: "2024-07-26T10:52:24Z". */
export const isoZ = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';
/** Workflow style timestamp (UTC, no zone suffix): "2023-10-04T16:49:14". */
export const isoLocal = (ms: number) => new Date(ms).toISOString().slice(0, 19);

/**
 * What a mutating endpoint does after a customer's fault ran: answer `stop` at once (500/521/429,
 * nothing written), or carry on and pass its eventual reply through `out` (which drops the
 * connection instead of answering when the fault is lost_response).
 */
export type FaultGate = { stop: Reply } | { out: (r: Reply) => Reply };

const passThrough = (r: Reply) => r;
const dropConnection = (r: Reply): Reply => ({ ...r, destroy: true });

export class SandboxCore {
  readonly now: () => number;
  readonly otpValidityMs: number;
  readonly oauthTtlSeconds: number;
  /** OAuth access token -> expiry (ms); in memory only */
  readonly tokens = new Map<string, number>();

  constructor(
    readonly store: Store,
    opts: CoreOptions,
  ) {
    this.now = opts.now;
    this.otpValidityMs = opts.otpValidityMs;
    this.oauthTtlSeconds = opts.oauthTtlSeconds;
  }

  /** Persist the state (when a state file is set): called after every mutation. */
  commit(): void {
    saveState(this.store, this.now());
  }

  /** Consume one fault occurrence for this customer, if any. */
  private takeFault(c: CustomerRec): FaultKind | null {
    const f = c.fault;
    if (!f) return null;
    if (f.remaining === null) return f.kind;
    if (f.remaining <= 0) return null;
    f.remaining -= 1;
    return f.kind;
  }

  /**
   * Apply the customer's fault, if any, once the request is tied to the customer and before a
   * mutation (see the README's "Fault customers"). The fault counter is persisted at once.
   */
  fault(c: CustomerRec, version: Version): FaultGate {
    const kind = this.takeFault(c);
    if (kind === null) return { out: passThrough };
    this.commit(); // the fault counter changed
    if (kind === 'lost_response') return { out: dropConnection };
    let r: Reply;
    if (kind === 'error_500') r = errorFor(version, 500, 500, 'Internal Server Error');
    else if (kind === 'locked_521')
      r = errorFor(version, 521, 521, 'multiple actions running for same customer');
    else r = errorFor(version, 429, 429, 'Too many requests', { 'retry-after': '1' });
    return { stop: { ...r, fault: kind } };
  }
}
