/**
 * The sandbox's business rules: one method per endpoint, each returning a Reply
 * (HTTP status, JSON body text, extra headers, and whether to drop the connection).
 * No I/O here except Store.persist() after a mutation.
 */
import { randomUUID } from 'node:crypto';
import { md5hex, SANDBOX_CREDENTIALS } from './credentials.js';
import { RawNumber, stringifyExact } from './exact-json.js';
import { formatMilli, milliToNumber, parseMilli, scalarText } from './points.js';
import { EVENT_NAMES, type FaultKind } from './seed.js';
import {
  type CustomerRec,
  type OtpRec,
  type RedemptionRec,
  randomId,
  type Store,
  type WorkflowRec,
} from './state.js';

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
/** Sandbox-chosen item code for reusing the external_reference_number of a failed redemption. */
export const CODE_FAILED_KEY_REUSED = 830;

const V1_ALL_FAILED = { success: 'false', code: 500, message: 'All requests have failed due to errors' };
const OTP_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const EVENT_NAME_SET: ReadonlySet<string> = new Set(EVENT_NAMES);
const EXPECTED_BASIC_HASH = md5hex(SANDBOX_CREDENTIALS.password);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTrue = (v: string | null | undefined) => v != null && v.trim().toLowerCase() === 'true';

function text(v: unknown): string | null {
  const t = scalarText(v);
  return t === undefined || t === '' ? null : t;
}

function reply(status: number, body: unknown, headers?: Record<string, string>): Reply {
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
/** The redeem page's points rules: 801 for null, zero or negative, 878 for more than 3 decimals. */
function pointsProblem(p: ReturnType<typeof parseMilli>, text: string): [number, string] | null {
  if (p.ok && p.milli > 0 && !text.startsWith('-')) return null;
  if (!p.ok && p.reason === 'precision' && !text.startsWith('-'))
    return [878, 'Invalid decimal precision in points redeemed'];
  return [801, 'Trying to redeem invalid points'];
}

/** The customer identifiers and points of a v1.1 GET (isredeemable, validationcode). */
function v1CustomerPoints(q: Params) {
  const ident = {
    mobile: q.get('mobile'),
    email: q.get('email'),
    external_id: q.get('external_id'),
    id: q.get('id'),
  };
  const pointsText = (q.get('points') ?? '').trim();
  const p = parseMilli(pointsText);
  return { ident, pointsText, p, pointsEcho: p.ok ? milliToNumber(p.milli) : pointsText };
}

const isoZ = (ms: number) => new Date(ms).toISOString().slice(0, 19) + 'Z';
/** Workflow style timestamp (UTC, no zone suffix): "2023-10-04T16:49:14". */
const isoLocal = (ms: number) => new Date(ms).toISOString().slice(0, 19);

/** Check a Basic Authorization header value against the sandbox credentials. */
export function basicOk(header: string | undefined): boolean {
  if (!header) return false;
  const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return false;
  return (
    decoded.slice(0, i) === SANDBOX_CREDENTIALS.username &&
    decoded.slice(i + 1).toLowerCase() === EXPECTED_BASIC_HASH
  );
}

export class SandboxCore {
  readonly now: () => number;
  private readonly otpValidityMs: number;
  private readonly oauthTtlSeconds: number;
  /** access token -> expiry (ms); in memory only */
  private readonly tokens = new Map<string, number>();

  constructor(
    readonly store: Store,
    opts: CoreOptions,
  ) {
    this.now = opts.now;
    this.otpValidityMs = opts.otpValidityMs;
    this.oauthTtlSeconds = opts.oauthTtlSeconds;
  }

  private commit(): void {
    this.store.persist(this.now());
  }

  // -------------------------------------------------------------------------------------
  // auth

  /** true when the headers carry a valid OAuth token or Basic credentials. */
  authenticate(get: (name: string) => string | undefined): boolean {
    const token = get('x-cap-api-oauth-token') ?? get('cap-api-access-token');
    if (token !== undefined) {
      const exp = this.tokens.get(token.trim());
      if (exp === undefined) return false;
      if (exp <= this.now()) {
        this.tokens.delete(token.trim());
        return false;
      }
      return true;
    }
    return basicOk(get('authorization'));
  }

  /** POST /v3/oauth/token/generate */
  oauthGenerate(body: unknown): Reply {
    const key = isObj(body) ? body.key : undefined;
    const secret = isObj(body) ? body.secret : undefined;
    if (key !== SANDBOX_CREDENTIALS.oauthKey || secret !== SANDBOX_CREDENTIALS.oauthSecret) {
      return reply(401, {
        data: null,
        errors: [{ status: false, code: 401, message: 'Invalid key or secret' }],
      });
    }
    const now = this.now();
    if (this.tokens.size > 10_000) for (const [t, exp] of this.tokens) if (exp <= now) this.tokens.delete(t);
    const accessToken = `sbx.${randomId(40, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}`;
    this.tokens.set(accessToken, now + this.oauthTtlSeconds * 1000);
    return reply(200, { data: { accessToken, ttlSeconds: this.oauthTtlSeconds }, errors: null });
  }

  // -------------------------------------------------------------------------------------
  // faults

  /** Consume one fault occurrence for this customer, if any. */
  private takeFault(c: CustomerRec): FaultKind | null {
    const f = c.fault;
    if (!f) return null;
    if (f.remaining === null) return f.kind;
    if (f.remaining <= 0) return null;
    f.remaining -= 1;
    return f.kind;
  }

  private faultReply(kind: Exclude<FaultKind, 'lost_response'>, version: Version): Reply {
    this.commit(); // the fault counter changed
    let r: Reply;
    if (kind === 'error_500') r = errorFor(version, 500, 500, 'Internal Server Error');
    else if (kind === 'locked_521')
      r = errorFor(version, 521, 521, 'multiple actions running for same customer');
    else r = errorFor(version, 429, 429, 'Too many requests', { 'retry-after': '1' });
    return { ...r, fault: kind };
  }

  /**
   * Apply the customer's fault: returns a Reply for 500/521/429 (answer it, write nothing),
   * 'lost' when the operation must be performed and then the connection dropped, or null.
   */
  private fault(c: CustomerRec, version: Version): Reply | 'lost' | null {
    const kind = this.takeFault(c);
    if (kind === null) return null;
    if (kind === 'lost_response') return 'lost';
    return this.faultReply(kind, version);
  }

  // -------------------------------------------------------------------------------------
  // customers

  /** v1.1 identifiers (mobile, email, external_id, id): all given ones must name the same customer. */
  private resolveV1(ident: { mobile?: unknown; email?: unknown; external_id?: unknown; id?: unknown }) {
    let found: CustomerRec | undefined;
    let any = false;
    const pick = (c: CustomerRec | undefined) => {
      any = true;
      if (!c || (found && found !== c)) return false;
      found = c;
      return true;
    };
    const mobile = text(ident.mobile);
    const email = text(ident.email);
    const ext = text(ident.external_id);
    const id = text(ident.id);
    if (mobile !== null && !pick(this.store.byMobile.get(mobile))) return null;
    if (email !== null && !pick(this.store.byEmail.get(email.toLowerCase()))) return null;
    if (ext !== null && !pick(this.store.byExternalId.get(ext))) return null;
    if (id !== null && !pick(/^\d+$/.test(id) ? this.store.customers.get(Number(id)) : undefined))
      return null;
    return any ? (found ?? null) : null;
  }

  /** v2 identifier type/value (mobile, email, externalId|external_id, id). */
  resolveV2(type: string | null, value: string | null): CustomerRec | null {
    if (type === null || value === null) return null;
    switch (type.toLowerCase()) {
      case 'mobile':
        return this.store.byMobile.get(value) ?? null;
      case 'email':
        return this.store.byEmail.get(value.toLowerCase()) ?? null;
      case 'externalid':
      case 'external_id':
        return this.store.byExternalId.get(value) ?? null;
      case 'id':
      case 'userid':
      case 'customerid':
        return /^\d+$/.test(value) ? (this.store.customers.get(Number(value)) ?? null) : null;
      default:
        return null;
    }
  }

  // -------------------------------------------------------------------------------------
  // validation codes

  private issueOtp(c: CustomerRec, milli: number): OtpRec {
    const now = this.now();
    const key = `${c.id}:${milli}`;
    const existing = this.store.otps.get(key);
    if (existing && existing.expiresAt > now) return existing;
    for (const [k, o] of this.store.otps) if (o.expiresAt <= now) this.store.otps.delete(k);
    const rec: OtpRec = {
      customerId: c.id,
      pointsMilli: milli,
      code: randomId(6, OTP_ALPHABET),
      issuedAt: now,
      expiresAt: now + this.otpValidityMs,
    };
    this.store.otps.set(key, rec);
    this.commit();
    return rec;
  }

  private otpValid(c: CustomerRec, milli: number, code: string): boolean {
    const o = this.store.otps.get(`${c.id}:${milli}`);
    return o !== undefined && o.code === code.trim().toUpperCase() && o.expiresAt > this.now();
  }

  // -------------------------------------------------------------------------------------
  // POST /v1.1/points/redeem

  redeem(q: Params, body: unknown, faultVersion: Version = 'v1'): Reply {
    const root = isObj(body) && isObj(body.root) ? body.root : null;
    const r = root?.redeem;
    if (r === undefined || r === null) return v1Error(400, 400, 'Invalid request: root.redeem is required');
    const items = Array.isArray(r) ? r : [r];
    if (items.length !== 1) {
      return v1Error(400, 400, 'Batch not supported: root.redeem must hold exactly one redemption');
    }
    if (!isObj(items[0])) return v1Error(400, 400, 'Invalid request: a redeem item must be an object');
    return this.redeemItem(items[0], q, faultVersion);
  }

  private redeemItem(it: Obj, q: Params, faultVersion: Version): Reply {
    const now = this.now();
    const cust = isObj(it.customer) ? it.customer : {};
    const pointsText = scalarText(it.points_redeemed) ?? '';
    const ern = text(it.external_reference_number);
    const echo = {
      mobile: text(cust.mobile) ?? '',
      email: text(cust.email) ?? '',
      external_id: text(cust.external_id) ?? '',
    };
    const failBody = (code: number, message: string) =>
      JSON.stringify({
        response: {
          status: V1_ALL_FAILED,
          responses: {
            points: {
              ...echo,
              points_redeemed: pointsText,
              item_status: { success: 'false', code, message },
            },
          },
        },
      });
    const fail = (code: number, message: string): Reply => {
      if (ern !== null) {
        this.store.idempotency.set(ern, { outcome: 'failed', code, message, at: now });
        this.commit();
      }
      return { status: 400, body: failBody(code, message) };
    };

    // idempotency first: a known key never writes again
    if (ern !== null) {
      const prev = this.store.idempotency.get(ern);
      if (prev?.outcome === 'success') {
        const red = this.store.redemptions.get(prev.redemptionId);
        const owner = red ? this.store.customers.get(red.customerId) : undefined;
        const f = owner ? this.fault(owner, faultVersion) : null;
        if (f !== null && f !== 'lost') return f;
        if (f === 'lost') this.commit();
        return { status: 200, body: red?.originalResponse ?? '{}', destroy: f === 'lost' };
      }
      if (prev?.outcome === 'failed') {
        return {
          status: 400,
          body: failBody(
            CODE_FAILED_KEY_REUSED,
            `external_reference_number already used by a failed redemption (item code ${prev.code}); ` +
              'a failed key cannot be retried, use a new external_reference_number',
          ),
        };
      }
    }

    for (const k of q.keys()) {
      if (k.startsWith('user_group2_') && q.get(k)) return fail(1632, 'Invalid or non-existent groupId');
    }
    const c = this.resolveV1(cust);
    if (!c) return fail(816, 'Customer not found for organization');
    const f = this.fault(c, faultVersion);
    if (f !== null && f !== 'lost') return f;
    const lost = f === 'lost';
    const out = (r: Reply): Reply => (lost ? { ...r, destroy: true } : r);
    if (lost) this.commit();

    const p = parseMilli(it.points_redeemed);
    const bad = pointsProblem(p, pointsText);
    // pointsProblem answers whenever the parse failed, so `bad` is set in both branches.
    if (bad || !p.ok) return out(fail(...bad!));
    const skip = isTrue(q.get('skip_validation'));
    const code = text(it.validation_code) ?? '';
    if (!skip) {
      if (code !== '') {
        if (!this.otpValid(c, p.milli, code)) return out(fail(808, 'Invalid validation code'));
      } else if (c.requiresValidation) {
        return out(fail(824, 'Mobile validation is mandatory for points redemption: pass validation_code'));
      }
    }
    if (p.milli > c.pointsMilli) return out(fail(803, 'Insufficient points for redemption'));

    // write
    c.pointsMilli -= p.milli;
    c.redeemedMilli += p.milli;
    if (!skip && code !== '') this.store.otps.delete(`${c.id}:${p.milli}`);
    let redemptionId = randomId(6);
    while (this.store.redemptions.has(redemptionId)) redemptionId = randomId(6);
    const id = ++this.store.seq.redemption;
    const effectId = ++this.store.seq.effect;
    const transactionNumber = text(it.transaction_number) ?? '';
    const programId = Number.parseInt(q.get('program_id') ?? '', 10);
    const rec: RedemptionRec = {
      redemptionId,
      id,
      customerId: c.id,
      pointsMilli: p.milli,
      balanceAfterMilli: c.pointsMilli,
      programId: Number.isSafeInteger(programId) && programId > 0 ? programId : 1,
      transactionNumber,
      billNumber: transactionNumber,
      billId: null,
      notes: text(it.notes) ?? '',
      purpose: '',
      validationCode: code,
      externalReferenceNumber: ern,
      redemptionTime: text(it.redemption_time),
      customFields: it.custom_fields ?? null,
      createdAt: now,
      updatedAt: null,
      reversedMilli: 0,
      reversals: [],
      originalResponse: null,
    };
    const num = milliToNumber(p.milli);
    const body = JSON.stringify({
      response: {
        status: { success: 'true', code: 200, message: 'Success' },
        responses: {
          points: {
            mobile: c.mobile,
            email: c.email ?? '',
            external_id: c.externalId ?? '',
            user_id: String(c.id),
            redemption_id: redemptionId,
            points_redeemed: formatMilli(p.milli),
            redemption_purpose: '',
            redeemed_value: num,
            redeemed_local_value: num,
            balance: milliToNumber(c.pointsMilli),
            side_effects: {
              effect: [
                {
                  id: effectId,
                  case_value: 'false',
                  num_points: num,
                  currency_value: num,
                  validation_code: code,
                  points_redemption_summary_id: String(effectId),
                  redeemed_on_bill_number: transactionNumber,
                  redeemed_on_bill_id: -1,
                  type: 'points',
                },
              ],
            },
            item_status: { success: 'true', code: 800, message: 'Points Redeemed' },
          },
        },
      },
    });
    if (ern !== null) {
      rec.originalResponse = body;
      this.store.idempotency.set(ern, { outcome: 'success', redemptionId, at: now });
    }
    this.store.redemptions.set(redemptionId, rec);
    this.commit();
    return out({ status: 200, body });
  }

  // -------------------------------------------------------------------------------------
  // GET /v1.1/points/isredeemable

  isRedeemable(q: Params): Reply {
    const { ident, pointsText, p, pointsEcho } = v1CustomerPoints(q);
    const base = (c: CustomerRec | null) => ({
      mobile: c ? c.mobile : (ident.mobile ?? ''),
      email: c ? (c.email ?? '') : (ident.email ?? ''),
      external_id: c ? (c.externalId ?? '') : (ident.external_id ?? ''),
      points: pointsEcho,
    });
    const fail = (c: CustomerRec | null, code: number, message: string): Reply =>
      reply(400, {
        response: {
          status: V1_ALL_FAILED,
          points: {
            redeemable: {
              ...base(c),
              is_redeemable: 'false',
              points_redeem_value: 0,
              points_redeem_local_value: 0,
              input_type: 'points',
              points_currency_ratio: '1',
              item_status: { success: 'false', code, message },
            },
          },
        },
      });
    for (const k of q.keys()) {
      if (k.startsWith('user_group2_') && q.get(k))
        return fail(null, 1632, 'Invalid or non-existent groupId');
    }
    const c = this.resolveV1(ident);
    if (!c) return fail(null, 816, 'Customer not found for organization');
    const bad = pointsProblem(p, pointsText);
    if (bad || !p.ok) return fail(c, ...bad!);
    if (p.milli > c.pointsMilli)
      return fail(c, 818, 'Current points are less than points requested for redemption');
    const code = text(q.get('validation_code'));
    if (code !== null && !isTrue(q.get('skip_validation')) && !this.otpValid(c, p.milli, code)) {
      return fail(c, 808, 'Invalid validation code');
    }
    const num = milliToNumber(p.milli);
    const redeemable: Obj = {
      ...base(c),
      is_redeemable: 'true',
      points_redeem_value: num,
      points_redeem_local_value: num,
      input_type: 'points',
      points_currency_ratio: '1',
      item_status: { success: 'true', code: 800, message: 'Points can be redeemed' },
    };
    if (isTrue(q.get('issue_otp'))) {
      const otp = this.issueOtp(c, p.milli);
      redeemable.item_status = {
        success: 'true',
        code: 800,
        message: 'Points can be redeemed. Validation code issued by SMS',
      };
      redeemable.sandbox_validation_code = otp.code;
      redeemable.sandbox_validation_code_expires_at = isoZ(otp.expiresAt);
    }
    return reply(200, {
      response: { status: { success: 'true', code: 200, message: 'Success' }, points: { redeemable } },
    });
  }

  // -------------------------------------------------------------------------------------
  // GET /v1.1/points/validationcode

  validationCode(q: Params): Reply {
    const { ident, pointsText, p, pointsEcho } = v1CustomerPoints(q);
    const fail = (c: CustomerRec | null, code: number, message: string): Reply =>
      reply(400, {
        response: {
          status: V1_ALL_FAILED,
          validation_code: {
            code: {
              user_id: c ? String(c.id) : '',
              mobile: c ? c.mobile : (ident.mobile ?? ''),
              email: c ? (c.email ?? '') : (ident.email ?? ''),
              external_id: c ? (c.externalId ?? '') : (ident.external_id ?? ''),
              points: pointsEcho,
              item_status: { success: 'false', code, message },
            },
          },
        },
      });
    const c = this.resolveV1(ident);
    if (!c) return fail(null, 816, 'Customer not found for organization');
    const bad = pointsProblem(p, pointsText);
    if (bad || !p.ok) return fail(c, ...bad!);
    const otp = this.issueOtp(c, p.milli);
    return reply(200, {
      response: {
        status: { success: 'true', code: 200, message: 'Operation Successful' },
        validation_code: {
          code: {
            user_id: String(c.id),
            mobile: c.mobile,
            email: c.email ?? '',
            external_id: c.externalId ?? '',
            points: milliToNumber(p.milli),
            item_status: { success: 'true', code: 200, message: 'Validation Code Issued by SMS' },
            sandbox_validation_code: otp.code,
            sandbox_validation_code_expires_at: isoZ(otp.expiresAt),
          },
        },
      },
    });
  }

  // -------------------------------------------------------------------------------------
  // POST /v2/points/reverse

  reverse(body: unknown): Reply {
    if (!isObj(body)) return v2Error(400, 901, 'Invalid points or points redemption ID');
    const redemptionId = text(body.redemptionId);
    if (redemptionId === null) return v2Error(400, 901, 'Invalid points or points redemption ID');
    const ident = isObj(body.identifier) ? body.identifier : null;
    const type = ident ? text(ident.type) : null;
    const value = ident ? text(ident.value) : null;
    if (type === null || value === null) return v2Error(400, 904, 'Invalid customer details passed');
    const red = this.store.redemptions.get(redemptionId);
    if (!red) return v2Error(400, 902, 'Redemption ID does not exist');
    const c = this.resolveV2(type, value);
    if (!c || c.id !== red.customerId) return v2Error(400, 904, 'Invalid customer details passed');
    const f = this.fault(c, 'v2');
    if (f !== null && f !== 'lost') return f;
    const lost = f === 'lost';
    const out = (r: Reply): Reply => (lost ? { ...r, destroy: true } : r);
    if (lost) this.commit();

    const remaining = red.pointsMilli - red.reversedMilli;
    let milli = remaining;
    const given = body.pointsToBeReversed;
    if (given !== undefined && given !== null && given !== '') {
      const p = parseMilli(given);
      const t = scalarText(given) ?? '';
      if (!p.ok && p.reason === 'precision' && !t.startsWith('-')) {
        return out(v2Error(400, 878, 'Invalid decimal precision in points to be reversed'));
      }
      if (!p.ok || p.milli <= 0) return out(v2Error(400, 901, 'Invalid points or points redemption ID'));
      milli = p.milli;
    }
    if (remaining <= 0) return out(v2Error(400, 3802, 'Points already reversed for this redemption'));
    if (milli > remaining) {
      return out(
        v2Error(
          400,
          3801,
          `Points to be reversed (${formatMilli(milli)}) exceed the points still reversible on this redemption (${formatMilli(remaining)})`,
        ),
      );
    }
    let reversalId = randomId(6);
    while (red.reversals.some((r) => r.reversalId === reversalId)) reversalId = randomId(6);
    red.reversedMilli += milli;
    red.reversals.push({ reversalId, pointsMilli: milli, at: this.now() });
    c.pointsMilli += milli;
    c.reversedMilli += milli;
    this.commit();
    return out(
      reply(200, {
        redemptionId,
        pointsToBeReversed: milliToNumber(milli),
        orgId: ORG_ID,
        identifier: { type, value },
        customerId: c.id,
        pointsReversed: milliToNumber(milli),
        reversalId,
        balance: milliToNumber(c.pointsMilli),
        warnings: [],
        errors: [],
      }),
    );
  }

  // -------------------------------------------------------------------------------------
  // PUT /v2/points/updateRedemption

  updateRedemption(body: unknown): Reply {
    if (!isObj(body))
      return v2Error(400, 749, 'Exactly one redemption identifier needed to identify redemption');
    const rid = text(body.redemptionId);
    const ern = text(body.externalReferenceNumber);
    if ((rid === null) === (ern === null)) {
      return v2Error(400, 749, 'Exactly one redemption identifier needed to identify redemption');
    }
    const has = (k: string) => body[k] !== undefined && body[k] !== null;
    if (!has('billNumber') && !has('billId') && !has('purpose') && !has('customFields')) {
      return v2Error(400, 748, 'No metadata update requested');
    }
    const entity = body.entity;
    if (!isObj(entity)) return v2Error(400, 1219, 'Entity details not set/invalid');
    const etype = text(entity.type);
    if (etype === null) return v2Error(400, 1219, 'Entity details not set/invalid');
    if (!['CUSTOMER', 'USERGROUP2', 'FLEET'].includes(etype.toUpperCase())) {
      return v2Error(400, 1212, 'Entity type passed is not valid');
    }
    const idType = text(entity.identifierType);
    const idValue = text(entity.identifierValue);
    if (idType === null || idValue === null) return v2Error(400, 1219, 'Entity details not set/invalid');
    if (etype.toUpperCase() !== 'CUSTOMER') {
      return v2Error(400, 1219, 'Entity details not set/invalid: no such group in the sandbox');
    }
    if (
      !['mobile', 'email', 'externalid', 'external_id', 'id', 'userid', 'customerid'].includes(
        idType.toLowerCase(),
      )
    ) {
      return v2Error(400, 8015, `Invalid identifier: unsupported identifierType ${idType}`);
    }
    const c = this.resolveV2(idType, idValue);
    if (!c) return v2Error(400, 8015, 'Invalid identifier: customer not found');

    let billId: string | null | undefined;
    if (has('billId')) {
      const raw = body.billId;
      const t =
        raw instanceof RawNumber || typeof raw === 'number' || typeof raw === 'string'
          ? scalarText(raw)
          : undefined;
      if (t === undefined || !/^\d{1,19}$/.test(t) || BigInt(t) <= 0n || BigInt(t) > 9223372036854775807n) {
        return v2Error(
          400,
          750,
          'Redemption update failed : billId must be a positive integer of at most 19 digits',
        );
      }
      billId = BigInt(t).toString();
    }
    let billNumber: string | undefined;
    if (has('billNumber')) {
      const t = text(body.billNumber);
      if (t === null || t.length > 255) {
        return v2Error(400, 750, 'Redemption update failed : billNumber must be a non-empty string');
      }
      billNumber = t;
    }
    let purpose: string | undefined;
    if (has('purpose')) {
      if (typeof body.purpose !== 'string')
        return v2Error(400, 750, 'Redemption update failed : purpose must be a string');
      if (body.purpose.length > 255) {
        return v2Error(400, 750, 'Redemption update failed : purpose must be at most 255 characters');
      }
      purpose = body.purpose;
    }
    let red: RedemptionRec | undefined;
    if (rid !== null) red = this.store.redemptions.get(rid);
    else {
      const k = this.store.idempotency.get(ern as string);
      red = k?.outcome === 'success' ? this.store.redemptions.get(k.redemptionId) : undefined;
    }
    if (!red) return v2Error(400, 750, 'Redemption update failed : redemption not found');
    if (red.customerId !== c.id) {
      return v2Error(400, 750, 'Redemption update failed : redemption does not belong to the given entity');
    }
    const f = this.fault(c, 'v2');
    if (f !== null && f !== 'lost') return f;
    if (billId !== undefined) red.billId = billId;
    if (billNumber !== undefined) red.billNumber = billNumber;
    if (purpose !== undefined) red.purpose = purpose;
    if (has('customFields')) red.customFields = body.customFields;
    red.updatedAt = this.now();
    this.commit();
    const parsedTime = red.redemptionTime
      ? Date.parse(
          red.redemptionTime.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(red.redemptionTime) ? '' : 'Z'),
        )
      : Number.NaN;
    const body2 = stringifyExact({
      id: red.id,
      programId: red.programId,
      pointsRedeemed: milliToNumber(red.pointsMilli),
      billId: red.billId === null ? -1 : new RawNumber(red.billId),
      billNumber: red.billNumber,
      validationCode: red.validationCode,
      notes: red.notes,
      redemptionTime: Number.isFinite(parsedTime) ? parsedTime : red.createdAt,
      pointsRedemptionTime: red.createdAt,
      tillId: TILL_ID,
      tillName: SANDBOX_CREDENTIALS.username,
      pointDeductionList: [],
      externalReferenceNumber: red.externalReferenceNumber ?? '',
      redemptionId: red.redemptionId,
      customerId: red.customerId,
      redemptionPurpose: red.purpose,
      redemptionDate: isoZ(red.createdAt),
      warnings: [],
    });
    return { status: 200, body: body2, destroy: f === 'lost' };
  }

  // -------------------------------------------------------------------------------------
  // POST /v2/points/unlockPromisedPoints

  unlockPromisedPoints(q: Params, body: unknown): Reply {
    const idName = text(q.get('identifierName'));
    const idValue = text(q.get('identifierValue'));
    const source = text(q.get('source'));
    if (idName === null || idValue === null || source === null) {
      return v2Error(400, 82323284, 'identifierName, identifierValue, or source cannot be empty');
    }
    const type = (text(q.get('type')) ?? 'CUSTOMER').toUpperCase();
    if (type === 'USERGROUP2') return v2Error(400, 1645, 'Group details passed are not valid');
    if (type !== 'CUSTOMER') return v2Error(400, 82323276, 'Entity type invalid');
    const b = isObj(body) ? body : {};
    const billNumber = text(b.billNumber);
    if (billNumber === null) return v2Error(400, 82323271, 'Bill number missing');
    const eventName = text(b.eventName);
    if (eventName === null || !EVENT_NAME_SET.has(eventName))
      return v2Error(400, 82323272, 'Event name not found');
    const c = this.resolveV2(idName, idValue);
    if (!c) return v2Error(400, 8015, 'Invalid identifier: customer not found');
    const f = this.fault(c, 'v2');
    if (f !== null && f !== 'lost') return f;
    const lost = f === 'lost';
    const out = (r: Reply): Reply => (lost ? { ...r, destroy: true } : r);
    if (lost) this.commit();

    const bills = c.promised.filter((p) => p.billNumber === billNumber);
    if (bills.length === 0) return out(v2Error(400, 82323277, 'No bill found for given bill number'));
    const list = (v: unknown): string[] | null => {
      if (v === undefined || v === null) return null;
      const arr = Array.isArray(v) ? v : [v];
      const out2 = arr.map((x) => text(x)).filter((x): x is string => x !== null);
      return out2.length ? out2 : null;
    };
    const eventLogIds = list(b.eventLogId);
    if (
      eventLogIds &&
      !bills.some((p) => p.eventLogId !== null && eventLogIds.includes(String(p.eventLogId)))
    ) {
      return out(v2Error(400, 3918, 'Error unlocking points: no eventLog found for given eventLogId'));
    }
    const itemCodes = list(b.itemCodes);
    const lineItemIds = list(b.lineItemIds);
    const programId = text(b.sourceProgramId);
    const candidates = bills.filter(
      (p) =>
        p.unlockedAt === null &&
        p.eventName === eventName &&
        (!eventLogIds || (p.eventLogId !== null && eventLogIds.includes(String(p.eventLogId)))) &&
        (!itemCodes || (p.itemCode !== null && itemCodes.includes(p.itemCode))) &&
        (!lineItemIds || (p.lineItemId !== null && lineItemIds.includes(String(p.lineItemId)))) &&
        (programId === null || String(p.programId) === programId),
    );
    if (candidates.length === 0) return out(v2Error(400, 82323282, 'No promise points found to unlock'));
    const now = this.now();
    const unlocked = candidates.map((p) => {
      p.unlockedAt = now;
      c.pointsMilli += p.pointsMilli;
      const e: Obj = { billNumber: p.billNumber };
      if (p.itemCode !== null) e.itemCode = p.itemCode;
      e.pointsUnlocked = milliToNumber(p.pointsMilli);
      e.programId = p.programId;
      return e;
    });
    this.commit();
    return out(reply(200, { pointsUnlocked: unlocked, errors: [], warnings: [] }));
  }

  // -------------------------------------------------------------------------------------
  // GET /v2/customers/lookup/points/balance

  balance(q: Params): Reply {
    const idName = text(q.get('identifierName'));
    const idValue = text(q.get('identifierValue'));
    if (idName === null || idValue === null || text(q.get('source')) === null) {
      return v2Error(
        400,
        8015,
        'Invalid identifier: source, identifierName and identifierValue are required',
      );
    }
    const c = this.resolveV2(idName, idValue);
    if (!c) return v2Error(404, 8015, 'Invalid identifier: customer not found');
    const locked = c.promised.filter((p) => p.unlockedAt === null);
    const promisedMilli = locked.reduce((s, p) => s + p.pointsMilli, 0);
    return reply(200, {
      data: {
        customerId: c.id,
        mobile: c.mobile,
        email: c.email,
        externalId: c.externalId,
        loyaltyPoints: milliToNumber(c.pointsMilli),
        promisedPoints: milliToNumber(promisedMilli),
        redeemedPoints: milliToNumber(c.redeemedMilli),
        reversedPoints: milliToNumber(c.reversedMilli),
        promised: locked.map((p) => ({
          billNumber: p.billNumber,
          itemCode: p.itemCode,
          lineItemId: p.lineItemId,
          points: milliToNumber(p.pointsMilli),
          programId: p.programId,
          eventName: p.eventName,
          eventLogId: p.eventLogId,
        })),
      },
      errors: [],
      warnings: [],
    });
  }

  // -------------------------------------------------------------------------------------
  // request workflow

  /** Extra header check for request-workflow endpoints; null when fine. */
  workflowHeaders(get: (name: string) => string | undefined): Reply | null {
    const org = get('x-cap-api-auth-org-id');
    const ui = get('x-cap-ui-auth-token');
    if (org === undefined || org.trim() === '' || ui === undefined || ui.trim() === '') {
      return v2Error(
        401,
        401,
        'Unauthorized: X-CAP-API-AUTH-ORG-ID and X-CAP-UI-AUTH-TOKEN headers are required',
      );
    }
    if (ui.trim() !== SANDBOX_CREDENTIALS.uiAuthToken)
      return v2Error(401, 401, 'Unauthorized: invalid X-CAP-UI-AUTH-TOKEN');
    if (org.trim() !== SANDBOX_CREDENTIALS.orgId)
      return v2Error(403, 403, 'Forbidden: no access to this organization');
    return null;
  }

  private renderRequest(w: WorkflowRec, full: boolean): string {
    const details: Obj = {
      'IntouchAPITask-Payload': w.task,
      ValidateMakerAccess_Output: true,
      ValidatePayload_Output: true,
    };
    const data: Obj = {
      requestId: w.requestId,
      userId: w.userId,
      userName: w.userName,
      requestType: w.requestType,
      state: w.state,
      startTime: isoLocal(w.startTime),
      endTime: w.endTime === null ? null : isoLocal(w.endTime),
      details,
    };
    if (full) {
      if (w.adminTask) {
        details['AdminTask-Payload'] = {
          actionDecision: w.adminTask.actionDecision,
          actionMessage: w.adminTask.actionMessage,
        };
      }
      data.result = w.result;
    }
    return stringifyExact({ data });
  }

  /** POST /api_gateway/v2/request-workflow/POINTS-REDEMPTION */
  workflowCreate(body: unknown): Reply {
    const bad = (msg: string) => v2Error(400, 400, `Invalid payload: ${msg}`);
    if (!isObj(body)) return bad('body must be a JSON object');
    if (!isObj(body.entityInfo)) return bad('entityInfo is required');
    const payload = body.payload;
    if (!isObj(payload) || !isObj(payload['IntouchAPITask-Payload'])) {
      return bad('payload."IntouchAPITask-Payload" is required');
    }
    const task = payload['IntouchAPITask-Payload'];
    if (text(task.hostname) === null) return bad('IntouchAPITask-Payload.hostname is required');
    const path = text(task.path);
    if (path === null || path.split('?')[0].replace(/\/+$/, '') !== '/v1.1/points/redeem') {
      return bad('IntouchAPITask-Payload.path must be /v1.1/points/redeem');
    }
    if ((text(task.method) ?? '').toUpperCase() !== 'POST')
      return bad('IntouchAPITask-Payload.method must be POST');
    if (task.pathParams !== undefined && task.pathParams !== null && !isObj(task.pathParams)) {
      return bad('IntouchAPITask-Payload.pathParams must be an object');
    }
    if (!isObj(task.queryParams)) return bad('IntouchAPITask-Payload.queryParams is required');
    if (!isObj(task.headers)) return bad('IntouchAPITask-Payload.headers is required');
    const b = task.body;
    const root = isObj(b) && isObj(b.root) ? b.root : null;
    const r = root?.redeem;
    const items = Array.isArray(r) ? r : r === undefined || r === null ? [] : [r];
    if (items.length !== 1 || !isObj(items[0])) {
      return bad(
        'IntouchAPITask-Payload.body.root.redeem must be one redemption (object or one-element array)',
      );
    }
    const item = items[0];
    if (text(item.points_redeemed) === null) return bad('body.root.redeem.points_redeemed is required');
    if (!isObj(item.customer)) return bad('body.root.redeem.customer is required');
    const now = this.now();
    const w: WorkflowRec = {
      requestId: randomUUID(),
      userId: WORKFLOW_USER.userId,
      userName: WORKFLOW_USER.userName,
      requestType: 'points-redemption',
      state: 'AdminTask',
      startTime: now,
      endTime: null,
      entityInfo: body.entityInfo,
      task,
      adminTask: null,
      result: null,
    };
    this.store.requests.set(w.requestId, w);
    this.commit();
    return { status: 200, body: this.renderRequest(w, false) };
  }

  /** GET /api_gateway/v2/request-workflow/requests/{requestId} */
  workflowGet(requestId: string): Reply {
    const w = this.store.requests.get(requestId);
    if (!w) return v2Error(404, 404, 'Request not found');
    return { status: 200, body: this.renderRequest(w, true) };
  }

  /** PUT /api_gateway/v2/request-workflow/POINTS-REDEMPTION (checker decision) */
  workflowDecide(body: unknown): Reply {
    const bad = (msg: string) => v2Error(400, 400, `Invalid payload: ${msg}`);
    if (!isObj(body)) return bad('body must be a JSON object');
    const requestId = text(body.requestId);
    if (requestId === null) return bad('requestId is required');
    const w = this.store.requests.get(requestId);
    if (!w) return v2Error(404, 404, 'Request not found');
    if (text(body.actionName) !== 'AdminTask') return bad('actionName must be "AdminTask"');
    const ap =
      isObj(body.payload) && isObj(body.payload['AdminTask-Payload'])
        ? body.payload['AdminTask-Payload']
        : null;
    const decision = (text(ap?.actionDecision) ?? '').toLowerCase();
    if (decision !== 'approved' && decision !== 'rejected') {
      return bad('payload."AdminTask-Payload".actionDecision must be "approved" or "rejected"');
    }
    if (w.state !== 'AdminTask')
      return v2Error(409, 409, `Request is not awaiting AdminTask (state: ${w.state})`);
    const actionMessage = text(ap?.actionMessage);
    const now = this.now();
    if (decision === 'rejected') {
      w.state = 'Rejected';
      w.endTime = now;
      w.adminTask = { actionDecision: 'rejected', actionMessage, decidedAt: now };
      this.commit();
      return { status: 200, body: this.renderRequest(w, true) };
    }
    // approved: execute the embedded call with its own headers
    const task = w.task as Obj;
    const headers = isObj(task.headers) ? task.headers : {};
    const lower = new Map<string, string>();
    for (const [k, v] of Object.entries(headers)) {
      const t = scalarText(v);
      if (t !== undefined) lower.set(k.toLowerCase(), t);
    }
    let result: { httpStatus: number; body: unknown };
    let destroy = false;
    if (!this.authenticate((n) => lower.get(n))) {
      result = {
        httpStatus: 401,
        body: { response: { status: { success: 'false', code: 401, message: 'Unauthorized' } } },
      };
    } else {
      const qp = new URLSearchParams();
      for (const [k, v] of Object.entries(task.queryParams as Obj)) {
        const t = scalarText(v);
        if (t !== undefined) qp.set(k, t);
      }
      const r = this.redeem(qp, task.body, 'v2');
      if (r.fault) return r; // transient: nothing written, the request stays in AdminTask
      destroy = r.destroy === true;
      result = { httpStatus: r.status, body: JSON.parse(r.body) };
    }
    w.state = result.httpStatus === 200 ? 'Approved' : 'Failed';
    w.endTime = now;
    w.adminTask = { actionDecision: 'approved', actionMessage, decidedAt: now };
    w.result = result;
    this.commit();
    return { status: 200, body: this.renderRequest(w, true), destroy };
  }
}
