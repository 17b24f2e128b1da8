import { z } from 'zod';

/** Argument pieces shared by several tools. Descriptions are short: the model reads every token. */

/** Why a value is neither a string nor a whole number a JSON number carries exactly. */
const notWhole = (v: unknown): string =>
  v === undefined
    ? 'required'
    : typeof v !== 'number'
      ? 'expected a string or a whole number'
      : !Number.isInteger(v)
        ? 'expected a whole number, or the value as a string'
        : v < 0
          ? 'expected a whole number >= 0, or the value as a string'
          : 'above 9007199254740991 a JSON number loses digits: send this id as a string';

/**
 * A string field that also takes a JSON whole number, as the API pages' own examples and many
 * clients send ids, bill numbers and mobiles (`billNumber: 16484`, `919000000001`). A safe
 * integer becomes its exact digits and is then checked as the string; an unsafe one (above
 * 2^53-1, its digits already lost in JSON) is refused with a request to send it as a string.
 */
export const orWhole = <S extends z.ZodType<string, string>>(s: S) =>
  z
    .union(
      [z.string(), z.int({ error: (i) => notWhole(i.input) }).min(0, { error: (i) => notWhole(i.input) })],
      {
        error: (i) => notWhole(i.input),
      },
    )
    .transform((v) => (typeof v === 'number' ? String(v) : v))
    .pipe(s);

const digitsString = (max: number) =>
  z.string().regex(new RegExp(`^\\d{1,${max}}$`), `digits only, at most ${max}`);

/** Digits (a string, or a whole number that becomes its digits). */
export const digits = (max = 19) => orWhole(digitsString(max));

/** Digits sent upstream as a JSON number token (an int64 there): at most 9223372036854775807. */
export const int64Digits = () =>
  orWhole(
    digitsString(19).refine(
      (s) => !/^\d+$/.test(s) || BigInt(s) <= 9_223_372_036_854_775_807n,
      'at most 9223372036854775807 (int64)',
    ),
  );

/** Free text of 1 to max characters that may also arrive as a whole number (SKUs, bill numbers). */
export const idText = (max = 100) => orWhole(z.string().min(1).max(max));

export const pointsSchema = z
  .number()
  .gt(0)
  .lte(1_000_000_000)
  // Not a listed multipleOf: JSON Schema validators test 0.001 in floating point and refuse valid
  // amounts such as 2.675. Only a number that is exactly some thousandths is accepted, here.
  .refine((p) => Math.round(p * 1000) / 1000 === p, { message: 'at most 3 decimals', params: { code: 878 } })
  .describe('Points, > 0, at most 3 decimals');

/** Vendor codes for the local points checks (801 invalid points, 878 precision). */
export const POINTS_CODES = {
  'points:too_small': 801,
  'points:invalid_type': 801,
} as const;

export const mobileSchema = orWhole(z.string().regex(/^\+?\d{6,15}$/, '6-15 digits')).describe(
  'Mobile with country code',
);

export const customerSchema = z
  .object({
    mobile: mobileSchema.optional(),
    email: z.email().max(254).optional().describe('Email'),
    external_id: idText().optional().describe('External id'),
    id: digits().optional().describe('Capillary customer id'),
  })
  .strict()
  .refine((c) => c.mobile || c.email || c.external_id || c.id, {
    message: 'give at least one of mobile, email, external_id, id',
  })
  .describe('Customer; at least one identifier');

export type Customer = z.infer<typeof customerSchema>;

/** Identifiers normalised where Capillary treats them as equal: ids without leading zeros,
 * mobiles as digits, emails case-insensitively. */
/** A numeric id as Capillary compares it: without leading zeros. */
export const withoutLeadingZeros = (v: string) => v.replace(/^0+(?=\d)/, '');

const norm = {
  id: withoutLeadingZeros,
  mobile: (v: string) => v.replace(/\D/g, ''),
  external_id: (v: string) => v,
  email: (v: string) => v.toLowerCase(),
} as const;

/** Every identifier the call names, normalised, in priority order: id, mobile, external_id, email. */
export const customerIds = (c: Customer): string[] =>
  (['id', 'mobile', 'external_id', 'email'] as const)
    .filter((k) => c[k])
    .map((k) => `${k}:${norm[k](c[k] as string)}`);

/** One stable key per customer for caps, locks and the ledger: the first of customerIds. */
export const customerKey = (c: Customer): string => customerIds(c)[0];

export const customerLabel = (c: Customer): string => customerKey(c).replace(':', ' ');

export const SOURCES = [
  'INSTORE',
  'FACEBOOK',
  'WEB_ENGAGE',
  'WECHAT',
  'MARTJACK',
  'TMALL',
  'TAOBAO',
  'JD',
  'ECOMMERCE',
  'WEBSITE',
  'LINE',
  'MOBILE_APP',
] as const;

/** unlockPromisedPoints' documented eventName values. */
export const EVENT_NAMES = [
  'GenericEvent',
  'CustomerPromotionImport',
  'TargetCompleted',
  'LineitemsPointsPromotionImport',
  'BillPointsPromotionImport',
  'TransactionAdd',
  'GroupTransactionAdd',
] as const;

export const groupSchema = z
  .object({
    id: idText(50).optional().describe('Id'),
    external_id: idText().optional().describe('External id'),
    primary_user_id: idText(50).optional().describe('Primary member id'),
    primary_user_source: z.enum(SOURCES).optional().describe('Primary member source'),
    primary_user_account_id: idText().optional().describe('Primary member account id'),
    primary_user_identifier_type: z
      .enum(['mobile', 'email', 'cardnumber', 'cardExternalId', 'id'])
      .optional()
      .describe('Primary member id type'),
    primary_user_identifier_value: idText().optional().describe('Primary member id value'),
  })
  .strict()
  .refine((g) => g.id || g.external_id || g.primary_user_id || g.primary_user_identifier_value, {
    message: 'give at least one of id, external_id, primary_user_id, primary_user_identifier_value',
  })
  .describe('Group redemption (user_group2_*)');

export type Group = z.infer<typeof groupSchema>;

export function groupQuery(g: Group | undefined): Record<string, string | undefined> {
  if (!g) return {};
  return {
    user_group2_id: g.id,
    user_group2_external_id: g.external_id,
    user_group2_primary_user_id: g.primary_user_id,
    user_group2_primary_user_source: g.primary_user_source,
    user_group2_primary_user_accountId: g.primary_user_account_id,
    user_group2_primary_user_identifier_type: g.primary_user_identifier_type,
    user_group2_primary_user_identifier_value: g.primary_user_identifier_value,
  };
}

export const customFieldsSchema = z
  .record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,50}$/, 'name: letters, digits, _ . -'),
    orWhole(z.string().max(255)),
  )
  .describe('Custom fields, name to value');

export const toCustomFields = (cf: Record<string, string> | undefined) =>
  cf && Object.keys(cf).length
    ? { field: Object.entries(cf).map(([name, value]) => ({ name, value })) }
    : undefined;

/** A real calendar date-time, "YYYY-MM-DD HH:mm:ss" as Capillary's examples write it. */
export const dateTimeSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, 'format YYYY-MM-DD HH:mm:ss')
  .refine((s) => isRealDateTime(s), 'not a real date and time');

export const dateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'format YYYY-MM-DD')
  .refine((s) => isRealDateTime(`${s} 00:00:00`), 'not a real calendar date');

function isRealDateTime(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const dt = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return (
    y >= 1970 &&
    dt.getUTCFullYear() === y &&
    dt.getUTCMonth() === mo - 1 &&
    dt.getUTCDate() === d &&
    dt.getUTCHours() === h &&
    dt.getUTCMinutes() === mi &&
    dt.getUTCSeconds() === se
  );
}

export const referenceSchema = orWhole(
  z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (1-100)'),
).describe('Idempotency key; omit to have one minted');

/** A customer's validation code (OTP); a numeric code may arrive as a number. */
export const validationCodeSchema = orWhole(
  z.string().regex(/^[A-Za-z0-9]{4,12}$/, '4-12 letters or digits'),
);

export const dryRunSchema = z.boolean().optional().describe('Check and show the request; send nothing');

/** The redemption fields shared by redeem_points and request_points_redemption. */
export const redemptionFields = {
  customer: customerSchema,
  points: pointsSchema,
  transaction_number: idText().optional().describe('Bill/transaction number'),
  notes: z.string().max(500).optional().describe('Reason'),
  validation_code: validationCodeSchema.optional().describe("Customer's code (OTP)"),
  redemption_time: dateTimeSchema.optional().describe('YYYY-MM-DD HH:mm:ss; default now'),
  external_reference_number: referenceSchema.optional(),
  custom_fields: customFieldsSchema.optional(),
  program_id: digits().optional().describe('Loyalty program id'),
  skip_validation: z.boolean().optional().describe('Skip customer validation'),
  validation_type: z.enum(['MISSED_CALL', 'SMS']).optional().describe('Validation type'),
  group: groupSchema.optional(),
  dry_run: dryRunSchema,
};

export interface RedemptionArgs {
  customer: Customer;
  points: number;
  transaction_number?: string;
  notes?: string;
  validation_code?: string;
  redemption_time?: string;
  external_reference_number?: string;
  custom_fields?: Record<string, string>;
  program_id?: string;
  skip_validation?: boolean;
  validation_type?: 'MISSED_CALL' | 'SMS';
  group?: Group;
}

/** Points as Capillary writes them: a decimal string with no float noise. */
export const pointsString = (p: number): string => {
  const thousandths = Math.round(p * 1000);
  const whole = Math.trunc(thousandths / 1000);
  const frac = Math.abs(thousandths % 1000);
  return frac ? `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}` : String(whole);
};

/** The redeem item, in the documented table form. */
export function redeemItem(a: RedemptionArgs, key: string | undefined) {
  return {
    points_redeemed: pointsString(a.points),
    customer: {
      ...(a.customer.mobile ? { mobile: a.customer.mobile } : {}),
      ...(a.customer.email ? { email: a.customer.email } : {}),
      ...(a.customer.external_id ? { external_id: a.customer.external_id } : {}),
      ...(a.customer.id ? { id: a.customer.id } : {}),
    },
    ...(a.transaction_number ? { transaction_number: a.transaction_number } : {}),
    ...(a.notes ? { notes: a.notes } : {}),
    ...(a.validation_code ? { validation_code: a.validation_code } : {}),
    ...(a.redemption_time ? { redemption_time: a.redemption_time } : {}),
    ...(key ? { external_reference_number: key } : {}),
    ...(toCustomFields(a.custom_fields) ? { custom_fields: toCustomFields(a.custom_fields) } : {}),
  };
}

/** Query parameters of a redemption (format=json always). */
export function redeemQuery(a: RedemptionArgs): Record<string, string | undefined> {
  return {
    format: 'json',
    program_id: a.program_id,
    skip_validation: a.skip_validation === undefined ? undefined : String(a.skip_validation),
    validation_type: a.validation_type,
    ...groupQuery(a.group),
  };
}

/** Normalized v1.1 item status. */
export const itemStatusSchema = z
  .object({
    success: z.boolean().describe('OK'),
    code: z.number().describe('800 = redeemed'),
    message: z.string().describe('Message'),
  })
  .describe('Item status');

export const normItemStatus = (s: any) => ({
  success: String(s?.success) === 'true',
  code: Number(s?.code ?? 0),
  message: String(s?.message ?? ''),
});

export const num = (v: unknown): number | undefined => {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};
export const str = (v: unknown): string | undefined =>
  v === null || v === undefined ? undefined : String(v);
/** An epoch time in milliseconds (Capillary's Long times) as ISO 8601; anything else as absent. */
export const epochIso = (v: unknown): string | undefined => {
  const n = num(v);
  return n === undefined || n <= 0 || n > 8.64e15 ? undefined : new Date(n).toISOString();
};
/** An id or identifier from an answer; Capillary's "none" placeholders (-1, "", null) read as absent. */
export const idOf = (v: unknown): string | undefined => {
  const s = typeof v === 'object' ? undefined : str(v)?.trim();
  return s === undefined || s === '' || s === '-1' ? undefined : s;
};

/** A customer as v1.1 query parameters. */
export const customerQuery = (c: Customer): Record<string, string | undefined> => ({
  mobile: c.mobile,
  email: c.email,
  external_id: c.external_id,
  id: c.id,
});

/** A customer as a v2 identifier {type, value}: the first identifier given. */
export const customerIdentifier = (c: Customer): { type: string; value: string } =>
  c.mobile
    ? { type: 'mobile', value: c.mobile }
    : c.email
      ? { type: 'email', value: c.email }
      : c.external_id
        ? { type: 'externalId', value: c.external_id }
        : { type: 'id', value: c.id ?? '' };

/** A redemption id as redeem_points returns it (letters, digits, _ -); a number becomes its digits. */
export const redemptionIdSchema = orWhole(z.string().regex(/^[A-Za-z0-9_-]{1,50}$/, 'letters, digits, _ -'));
