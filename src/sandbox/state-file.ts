/**
 * The state file: atomic writes after every mutation, and a strict reading at start (a file that
 * fails is never silently replaced).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { parseJsonExact, stringifyExact } from './exact-json.js';
import type { StateData, Store } from './state.js';

/** Write the store's state atomically (temp file in the same dir, fsync, rename) if it has a path. */
export function saveState(store: Store, now: number): void {
  if (store.statePath) writeAtomic(store.statePath, stringifyExact(store.toData(now)));
}

export function writeAtomic(path: string, text: string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* ignore */
    }
    throw err;
  }
  // make the rename itself durable (best effort: not every platform can fsync a directory)
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* ignore */
  }
}

// state file validation (structure only)

const nullableStr = z.string().nullable();
const milli = z.number().int().safe();
const promisedSchema = z.object({
  billNumber: z.string(),
  pointsMilli: milli,
  programId: z.number().int(),
  itemCode: nullableStr,
  lineItemId: z.number().int().nullable(),
  eventName: z.string(),
  eventLogId: z.number().int().nullable(),
  /** absent in state files written before promotion entries existed */
  promotionId: z.number().int().nullable().optional(),
  promotionIdentifier: nullableStr.optional(),
  promotionName: nullableStr.optional(),
  unlockedAt: z.number().nullable(),
});
const stateSchema = z.object({
  format: z.literal('capillary-sandbox-state'),
  version: z.literal(1),
  savedAt: z.number(),
  seq: z.object({ redemption: z.number().int(), effect: z.number().int() }),
  customers: z.array(
    z.object({
      id: z.number().int(),
      mobile: z.string(),
      email: nullableStr,
      externalId: nullableStr,
      /** absent in state files written before card numbers existed */
      cardNumber: nullableStr.optional(),
      /** absent in state files written before CUIDs existed */
      cuid: nullableStr.optional(),
      pointsMilli: milli.nonnegative(),
      redeemedMilli: milli,
      reversedMilli: milli,
      promised: z.array(promisedSchema),
      requiresValidation: z.boolean(),
      fault: z.object({ kind: z.string(), remaining: z.number().int().nullable() }).nullable(),
    }),
  ),
  /** absent in state files written before groups existed */
  groups: z
    .array(
      z.object({
        id: z.number().int(),
        externalId: nullableStr,
        name: nullableStr,
        primaryMemberId: z.number().int(),
        memberIds: z.array(z.number().int()),
        pointsMilli: milli.nonnegative(),
        redeemedMilli: milli,
        reversedMilli: milli,
        redemptionConfigured: z.boolean(),
        enableGroupProgramsRedemption: z.boolean(),
        /** absent in state files written before groups had promised points */
        promised: z.array(promisedSchema).optional(),
      }),
    )
    .optional(),
  redemptions: z.array(
    z.object({
      redemptionId: z.string(),
      id: z.number().int(),
      customerId: z.number().int(),
      groupId: z.number().int().nullable().optional(),
      pointsMilli: milli,
      balanceAfterMilli: milli,
      programId: z.number().int(),
      transactionNumber: z.string(),
      billNumber: z.string(),
      billId: nullableStr,
      notes: z.string(),
      purpose: z.string(),
      validationCode: z.string(),
      externalReferenceNumber: nullableStr,
      redemptionTime: nullableStr,
      customFields: z.unknown(),
      createdAt: z.number(),
      updatedAt: z.number().nullable(),
      reversedMilli: milli,
      reversals: z.array(z.object({ reversalId: z.string(), pointsMilli: milli, at: z.number() })),
      originalResponse: nullableStr,
    }),
  ),
  idempotency: z.record(
    z.string(),
    z.union([
      z.object({ outcome: z.literal('success'), redemptionId: z.string(), at: z.number() }),
      z.object({ outcome: z.literal('failed'), code: z.number(), message: z.string(), at: z.number() }),
    ]),
  ),
  otps: z.array(
    z.object({
      customerId: z.number().int(),
      pointsMilli: milli,
      code: z.string(),
      issuedAt: z.number(),
      expiresAt: z.number(),
    }),
  ),
  requests: z.array(
    z.object({
      requestId: z.string(),
      userId: z.number(),
      userName: z.string(),
      requestType: z.string(),
      state: z.enum(['AdminTask', 'Approved', 'Rejected', 'Failed']),
      startTime: z.number(),
      endTime: z.number().nullable(),
      entityInfo: z.unknown(),
      task: z.unknown(),
      adminTask: z
        .object({ actionDecision: z.string(), actionMessage: z.string().nullable(), decidedAt: z.number() })
        .nullable(),
      result: z.object({ httpStatus: z.number(), body: z.unknown() }).nullable(),
    }),
  ),
});

export class StateFileError extends Error {
  override name = 'StateFileError';
}

/** Read a state file if it exists. Returns undefined when absent; throws StateFileError when unusable. */
export function readStateFile(path: string): StateData | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new StateFileError(`sandbox state file ${path} cannot be read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseJsonExact(text);
  } catch (err) {
    throw new StateFileError(
      `sandbox state file ${path} is corrupted (not valid JSON: ${(err as Error).message}); ` +
        'fix or remove it to start from the seed',
    );
  }
  const r = stateSchema.safeParse(raw);
  if (!r.success) {
    const iss = r.error.issues[0];
    const where =
      iss.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('') || '(root)';
    throw new StateFileError(
      `sandbox state file ${path} is corrupted or not a sandbox state file (${where}: ${iss.message}); ` +
        'fix or remove it to start from the seed',
    );
  }
  // keep the original objects (RawNumbers inside workflow payloads survive)
  return raw as StateData;
}
