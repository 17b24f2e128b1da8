/**
 * Seed data for the sandbox: the default dataset (fixed identifiers other code and docs
 * rely on) and the loader/validator for user seed files.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type IdentifierKind, normalizeIdentifier } from './identity.js';
import { JsonSyntaxError, locate, parseLocated, pathToString } from './json-locate.js';
import { parseMilli } from './points.js';

export const FAULT_KINDS = ['error_500', 'lost_response', 'locked_521', 'rate_limited_429'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * unlockPromisedPoints' documented eventName values. The sandbox keeps its own copy (it is an
 * independent fake of Capillary); test/sandbox/independence.test.ts pins it equal to the tools' list.
 */
export const EVENT_NAMES = [
  'GenericEvent',
  'CustomerPromotionImport',
  'TargetCompleted',
  'LineitemsPointsPromotionImport',
  'BillPointsPromotionImport',
  'TransactionAdd',
  'GroupTransactionAdd',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];

export interface SandboxSeedPromised {
  bill_number: string | number;
  points: number | string;
  program_id?: number;
  item_code?: string;
  line_item_id?: number;
  event_name?: EventName;
  event_log_id?: number;
  /**
   * A promotion's promised points on the bill (the page's promotion entry): its id, its external
   * identifier, its name. At least one of id and identifier; the unlock answers with them instead
   * of the bill number and item code.
   */
  promotion_id?: number;
  promotion_identifier?: string;
  promotion_name?: string;
}

export interface SandboxSeedFault {
  kind: FaultKind;
  /** how many requests are affected before the customer behaves normally (default: all) */
  times?: number;
}

export interface SandboxSeedCustomer {
  id: number;
  mobile: string;
  email?: string;
  external_id?: string;
  /** loyalty card number (the `cardnumber` identifier) */
  card_number?: string;
  /** the customer's CUID (the `cuid` identifier) */
  cuid?: string;
  /** redeemable points; number or decimal string, at most 3 decimals */
  points: number | string;
  promised?: SandboxSeedPromised[];
  requires_validation?: boolean;
  fault?: SandboxSeedFault;
}

/**
 * A group (Capillary's user group 2, e.g. a family) whose members redeem from one pooled balance
 * through the redeem call's `user_group2_*` parameters.
 */
export interface SandboxSeedGroup {
  /** the group id (`user_group2_id`) */
  id: number;
  /** `user_group2_external_id` */
  external_id?: string;
  name?: string;
  /** customer id of the primary member (`user_group2_primary_user_*`); one of `members` */
  primary_member: number;
  /** customer ids of every member, the primary one included; a customer is in at most one group */
  members: number[];
  /** the pooled balance; number or decimal string, at most 3 decimals */
  points: number | string;
  /** false: the group has no points redemption configured, its redemptions get 828 (default true) */
  redemption_configured?: boolean;
  /**
   * true: Capillary's ENABLE_GROUP_PROGRAMS_REDEMPTION applies to this group (an organization
   * setting, set per group here): a member's redemption without `user_group2_*` gets 3316
   */
  enable_group_programs_redemption?: boolean;
  /** promised points on the group's bills (event_name defaults to GroupTransactionAdd) */
  promised?: SandboxSeedPromised[];
}

export interface SandboxSeed {
  description?: string;
  customers: SandboxSeedCustomer[];
  groups?: SandboxSeedGroup[];
}

export const DEFAULT_SEED: SandboxSeed = {
  description: 'Default Capillary sandbox dataset',
  customers: [
    {
      id: 101,
      mobile: '919000000001',
      email: 'asha@example.com',
      external_id: 'EXT-101',
      card_number: '7000000101',
      points: 5000,
    },
    { id: 102, mobile: '919000000002', external_id: 'EXT-102', points: 0 },
    {
      id: 103,
      mobile: '919000000003',
      points: 1000,
      promised: [
        {
          bill_number: 'B-1001',
          points: 120,
          program_id: 1,
          item_code: 'SKU-1',
          line_item_id: 11,
          event_name: 'TransactionAdd',
          event_log_id: 9001,
        },
      ],
    },
    { id: 104, mobile: '919000000004', points: 2000, requires_validation: true },
    {
      id: 105,
      mobile: '919000000005',
      cuid: 'CUID-105',
      points: 500,
      promised: [
        {
          bill_number: 'B-2001',
          points: 50,
          program_id: 1,
          item_code: 'SKU-2',
          line_item_id: 21,
          event_name: 'TransactionAdd',
          event_log_id: 9002,
        },
        {
          bill_number: 'B-2001',
          points: 30,
          program_id: 1,
          event_name: 'TransactionAdd',
          event_log_id: 9002,
          promotion_id: 12,
          promotion_identifier: 'PROMO-12',
          promotion_name: 'Double points weekend',
        },
      ],
    },
    { id: 500, mobile: '919000000500', points: 10000, fault: { kind: 'error_500' } },
    { id: 599, mobile: '919000000599', points: 10000, fault: { kind: 'lost_response' } },
    { id: 521, mobile: '919000000521', points: 10000, fault: { kind: 'locked_521' } },
    { id: 429, mobile: '919000000429', points: 10000, fault: { kind: 'rate_limited_429' } },
    { id: 201, mobile: '919000000201', email: 'ravi@example.com', points: 100 },
    { id: 202, mobile: '919000000202', points: 50 },
    { id: 203, mobile: '919000000203', points: 100 },
    { id: 204, mobile: '919000000204', points: 100 },
  ],
  groups: [
    {
      id: 9001,
      external_id: 'GRP-9001',
      name: 'Rao family',
      primary_member: 201,
      members: [201, 202],
      points: 3000,
      promised: [
        { bill_number: 'G-3001', points: 200, event_name: 'GroupTransactionAdd', event_log_id: 9101 },
      ],
    },
    {
      id: 9002,
      external_id: 'GRP-9002',
      name: 'No redemption configured',
      primary_member: 203,
      members: [203],
      points: 500,
      redemption_configured: false,
    },
    {
      id: 9003,
      external_id: 'GRP-9003',
      name: 'Group programs redemption on',
      primary_member: 204,
      members: [204],
      points: 800,
      enable_group_programs_redemption: true,
    },
  ],
};

// ---------------------------------------------------------------------------------------
// validation

const pointsField = (allowZero: boolean) =>
  z
    .union([z.number(), z.string()], {
      error: 'expected a number of points (number or decimal string, at most 3 decimals)',
    })
    .superRefine((v, ctx) => {
      const p = parseMilli(v);
      if (!p.ok) {
        ctx.addIssue({
          code: 'custom',
          message:
            p.reason === 'precision'
              ? 'expected at most 3 decimals'
              : 'expected a number of points (number or decimal string, at most 3 decimals)',
        });
      } else if (p.milli < 0 || (!allowZero && p.milli === 0)) {
        ctx.addIssue({ code: 'custom', message: allowZero ? 'expected points >= 0' : 'expected points > 0' });
      }
    });

const positiveInt = (what = 'a positive integer') =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .positive({ error: `expected ${what}` })
    .max(Number.MAX_SAFE_INTEGER, { error: `expected ${what}` });

const optionalText = z
  .string({ error: 'expected a string' })
  .min(1, { error: 'expected a non-empty string' })
  .optional();

const promisedSchema = z
  .strictObject(
    {
      bill_number: z.union([z.string().min(1), z.number().int().nonnegative()], {
        error: 'expected a bill number (non-empty string or integer)',
      }),
      points: pointsField(false),
      program_id: positiveInt().optional(),
      item_code: z
        .string({ error: 'expected a string' })
        .min(1, { error: 'expected a non-empty string' })
        .optional(),
      line_item_id: positiveInt().optional(),
      event_name: z.enum(EVENT_NAMES, { error: `expected one of ${EVENT_NAMES.join(', ')}` }).optional(),
      event_log_id: positiveInt().optional(),
      promotion_id: positiveInt().optional(),
      promotion_identifier: optionalText,
      promotion_name: optionalText,
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? undefined : 'expected an object') },
  )
  .superRefine((p, ctx) => {
    // the page: promotionIdentifier is required when promotionId is not given
    if (
      p.promotion_name !== undefined &&
      p.promotion_id === undefined &&
      p.promotion_identifier === undefined
    )
      ctx.addIssue({
        code: 'custom',
        path: ['promotion_name'],
        message: 'a promotion needs promotion_id or promotion_identifier',
      });
  });

const customerSchema = z.strictObject(
  {
    id: positiveInt(),
    mobile: z
      .string({ error: 'expected a digit string' })
      .regex(/^\d{6,20}$/, { error: 'expected a digit string (6 to 20 digits)' }),
    email: z
      .string({ error: 'expected an email address' })
      .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, { error: 'expected an email address' })
      .optional(),
    external_id: z
      .string({ error: 'expected a string' })
      .min(1, { error: 'expected a non-empty string' })
      .optional(),
    card_number: optionalText,
    cuid: optionalText,
    points: pointsField(true),
    promised: z.array(promisedSchema, { error: 'expected an array' }).optional(),
    requires_validation: z.boolean({ error: 'expected true or false' }).optional(),
    fault: z
      .strictObject(
        {
          kind: z.enum(FAULT_KINDS, { error: `expected one of ${FAULT_KINDS.join(', ')}` }),
          times: positiveInt().optional(),
        },
        { error: (iss) => (iss.code === 'unrecognized_keys' ? undefined : 'expected an object') },
      )
      .optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? undefined : 'expected an object') },
);

const groupSchema = z.strictObject(
  {
    id: positiveInt(),
    external_id: z
      .string({ error: 'expected a string' })
      .min(1, { error: 'expected a non-empty string' })
      .optional(),
    name: z.string({ error: 'expected a string' }).optional(),
    primary_member: positiveInt('a customer id'),
    members: z
      .array(positiveInt('a customer id'), { error: 'expected an array of customer ids' })
      .min(1, { error: 'expected at least one member' }),
    points: pointsField(true),
    redemption_configured: z.boolean({ error: 'expected true or false' }).optional(),
    enable_group_programs_redemption: z.boolean({ error: 'expected true or false' }).optional(),
    promised: z.array(promisedSchema, { error: 'expected an array' }).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? undefined : 'expected an object') },
);

const seedSchema = z
  .strictObject(
    {
      description: z.string({ error: 'expected a string' }).optional(),
      customers: z.array(customerSchema, { error: 'expected an array of customers' }),
      groups: z.array(groupSchema, { error: 'expected an array of groups' }).optional(),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? undefined : 'expected an object') },
  )
  .superRefine((seed, ctx) => {
    const seen = new Map<string, number>();
    seed.customers.forEach((c, i) => {
      const keys: Array<[keyof SandboxSeedCustomer, IdentifierKind, string | undefined]> = [
        ['id', 'id', String(c.id)],
        ['mobile', 'mobile', c.mobile],
        ['email', 'email', c.email],
        ['external_id', 'externalId', c.external_id],
        ['card_number', 'cardnumber', c.card_number],
        ['cuid', 'cuid', c.cuid],
      ];
      for (const [field, kind, value] of keys) {
        const norm = value === undefined ? null : normalizeIdentifier(kind, value);
        if (norm === null) continue;
        const k = `${kind}\u0000${norm}`;
        const prev = seen.get(k);
        if (prev !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['customers', i, field],
            message: `duplicate ${field} (already used by customers[${prev}])`,
          });
        } else seen.set(k, i);
      }
    });
    checkGroups(seed, ctx);
  });

/** Group ids and external ids unique; members are seeded customers, each in at most one group. */
function checkGroups(seed: z.infer<typeof seedSchema>, ctx: z.RefinementCtx): void {
  const customerIds = new Set(seed.customers.map((c) => c.id));
  const groupIds = new Map<string, number>();
  const memberOf = new Map<number, number>();
  (seed.groups ?? []).forEach((g, i) => {
    const issue = (path: PropertyKey[], message: string) =>
      ctx.addIssue({ code: 'custom', path: ['groups', i, ...path], message });
    for (const [field, kind, value] of [
      ['id', 'id', String(g.id)],
      ['external_id', 'externalId', g.external_id],
    ] as const) {
      const norm = value === undefined ? null : normalizeIdentifier(kind, value);
      if (norm === null) continue;
      const prev = groupIds.get(`${kind}\u0000${norm}`);
      if (prev !== undefined) issue([field], `duplicate ${field} (already used by groups[${prev}])`);
      else groupIds.set(`${kind}\u0000${norm}`, i);
    }
    g.members.forEach((m, j) => {
      if (!customerIds.has(m)) issue(['members', j], `no customer with id ${m}`);
      const prev = memberOf.get(m);
      if (prev !== undefined) issue(['members', j], `customer ${m} is already a member of groups[${prev}]`);
      else memberOf.set(m, i);
    });
    if (!g.members.includes(g.primary_member)) issue(['primary_member'], 'expected one of members');
  });
}

/** Thrown for an invalid seed; message names the file, line/column and field. */
export class SeedError extends Error {
  override name = 'SeedError';
}

function formatIssues(
  label: string,
  issues: ReadonlyArray<z.core.$ZodIssue>,
  where?: (path: ReadonlyArray<PropertyKey>) => string,
): string {
  const lines = issues.slice(0, 5).map((iss) => {
    let path = [...iss.path];
    let message = iss.message;
    if (iss.code === 'unrecognized_keys') {
      path = [...path, iss.keys[0]];
      message = `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    const p = pathToString(path) || '(root)';
    return `${label}: ${p}${where ? where(path) : ''}: ${message}`;
  });
  if (issues.length > 5) lines.push(`${label}: ... and ${issues.length - 5} more problem(s)`);
  return lines.join('\n');
}

/** Validate an in-memory seed object. Throws SeedError naming the field at fault. */
export function validateSeed(seed: unknown, label = 'seed'): SandboxSeed {
  const r = seedSchema.safeParse(seed);
  if (!r.success) throw new SeedError(formatIssues(label, r.error.issues));
  return r.data as SandboxSeed;
}

/**
 * Load and validate a seed JSON file. Errors name the file, the line and column and the
 * field at fault, e.g. "seed.json: customers[1].mobile (line 7, column 17): expected a digit string".
 */
export function loadSeedFile(path: string): SandboxSeed {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SeedError(`${path}: cannot read seed file: ${(err as Error).message}`);
  }
  let located: ReturnType<typeof parseLocated>;
  try {
    located = parseLocated(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new SeedError(`${path}: invalid JSON: ${err.message}`);
    throw err;
  }
  const r = seedSchema.safeParse(located.value);
  if (!r.success) {
    throw new SeedError(
      formatIssues(path, r.error.issues, (p) => {
        const at = locate(located, p) ?? { line: 1, column: 1 };
        return ` (line ${at.line}, column ${at.column})`;
      }),
    );
  }
  return r.data as SandboxSeed;
}
