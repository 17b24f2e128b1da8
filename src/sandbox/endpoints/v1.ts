/**
 * What the v1.1 points endpoints (redeem, isredeemable, validationcode) share: the "all failed"
 * status, the points rules, the identifier-and-points query, and validation codes (OTPs).
 */
import type { Params, SandboxCore } from '../core.js';
import { milliToNumber, parseMilli } from '../points.js';
import { type CustomerRec, type OtpRec, randomId } from '../state.js';

export const V1_ALL_FAILED = {
  success: 'false',
  code: 500,
  message: 'All requests have failed due to errors',
};
const OTP_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** The redeem page's points rules: 801 for null, zero or negative, 878 for more than 3 decimals. */
export function pointsProblem(p: ReturnType<typeof parseMilli>, text: string): [number, string] | null {
  if (p.ok && p.milli > 0 && !text.startsWith('-')) return null;
  if (!p.ok && p.reason === 'precision' && !text.startsWith('-'))
    return [878, 'Invalid decimal precision in points redeemed'];
  return [801, 'Trying to redeem invalid points'];
}

/** The customer identifiers and points of a v1.1 GET (isredeemable, validationcode). */
export function v1CustomerPoints(q: Params) {
  const ident = {
    mobile: q.get('mobile'),
    email: q.get('email'),
    external_id: q.get('external_id'),
    id: q.get('id'),
    card_number: q.get('card_number'),
  };
  const pointsText = (q.get('points') ?? '').trim();
  const p = parseMilli(pointsText);
  return { ident, pointsText, p, pointsEcho: p.ok ? milliToNumber(p.milli) : pointsText };
}

const otpKey = (c: CustomerRec, milli: number) => `${c.id}:${milli}`;

/** The customer's code for this amount: the one still valid, or a new one. */
export function issueOtp(core: SandboxCore, c: CustomerRec, milli: number): OtpRec {
  const now = core.now();
  const otps = core.store.otps;
  const existing = otps.get(otpKey(c, milli));
  if (existing && existing.expiresAt > now) return existing;
  for (const [k, o] of otps) if (o.expiresAt <= now) otps.delete(k);
  const rec: OtpRec = {
    customerId: c.id,
    pointsMilli: milli,
    code: randomId(6, OTP_ALPHABET),
    issuedAt: now,
    expiresAt: now + core.otpValidityMs,
  };
  otps.set(otpKey(c, milli), rec);
  core.commit();
  return rec;
}

export function otpValid(core: SandboxCore, c: CustomerRec, milli: number, code: string): boolean {
  const o = core.store.otps.get(otpKey(c, milli));
  return o !== undefined && o.code === code.trim().toUpperCase() && o.expiresAt > core.now();
}

/** A code is one-time: a successful redemption that used it removes it (committed with the redemption). */
export function consumeOtp(core: SandboxCore, c: CustomerRec, milli: number): void {
  core.store.otps.delete(otpKey(c, milli));
}
