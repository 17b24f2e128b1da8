import { z } from 'zod';

/** Argument pieces shared by several tools. Descriptions are short: the model reads every token. */

export const digits = (max = 19) =>
  z.string().regex(new RegExp(`^\\d{1,${max}}$`), `digits only, at most ${max}`);

/** Digits sent upstream as a JSON number token (an int64 there): at most 9223372036854775807. */
export const int64Digits = () =>
  digits().refine(
    (s) => !/^\d+$/.test(s) || BigInt(s) <= 9_223_372_036_854_775_807n,
    'at most 9223372036854775807 (int64)',
  );

export const pointsSchema = z
  .number()
  .gt(0)
  .lte(1_000_000_000)
  .multipleOf(0.001)
  // multipleOf has a float tolerance: 1e-19 and 999999999.9990001 pass it, then go out as "0" and
  // "999999999.999". Only a number that is exactly some thousandths is accepted.
  .refine((p) => Math.round(p * 1000) / 1000 === p, { message: 'at most 3 decimals', params: { code: 878 } })
  .describe('Points, > 0, at most 3 decimals');

/** Vendor codes for the local points checks (801 invalid points, 878 precision). */
export const POINTS_CODES = {
  'points:too_small': 801,
  'points:invalid_type': 801,
  'points:not_multiple_of': 878,
} as const;

export const mobileSchema = z
  .string()
  .regex(/^\+?\d{6,15}$/, '6-15 digits')
  .describe('Mobile with country code');

export const customerSchema = z
  .object({
    mobile: mobileSchema.optional(),
    email: z.email().max(254).optional().describe('Email'),
    external_id: z.string().min(1).max(100).optional().describe('External id'),
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
const norm = {
  id: (v: string) => v.replace(/^0+(?=\d)/, ''),
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
    id: z.string().min(1).max(50).optional().describe('Id'),
    external_id: z.string().min(1).max(100).optional().describe('External id'),
    primary_user_id: z.string().min(1).max(50).optional().describe('Primary member id'),
    primary_user_source: z
      .enum(SOURCES.filter((s) => s !== 'INSTORE') as [string, ...string[]])
      .optional()
      .describe('Primary member source'),
    primary_user_account_id: z.string().min(1).max(100).optional().describe('Primary member account id'),
    primary_user_identifier_type: z
      .enum(['mobile', 'email', 'cardnumber', 'cardExternalId', 'id'])
      .optional()
      .describe('Primary member id type'),
    primary_user_identifier_value: z.string().min(1).max(100).optional().describe('Primary member id value'),
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
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,50}$/, 'name: letters, digits, _ . -'), z.string().max(255))
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

export const referenceSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits, . _ : - (1-100)')
  .describe('Idempotency key; omit to have one minted');

export const dryRunSchema = z.boolean().optional().describe('Check and show the request; send nothing');

/** The redemption fields shared by redeem_points and request_points_redemption. */
export const redemptionFields = {
  customer: customerSchema,
  points: pointsSchema,
  transaction_number: z.string().min(1).max(100).optional().describe('Bill/transaction number'),
  notes: z.string().max(500).optional().describe('Reason'),
  validation_code: z
    .string()
    .regex(/^[A-Za-z0-9]{4,12}$/, '4-12 letters or digits')
    .optional()
    .describe("Customer's code (OTP)"),
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
