import fc from 'fast-check';
import { expect } from 'vitest';
import { ALL_TOOLS } from '../../src/toolkit/all-tools.js';
import type { Recorded } from '../fixtures/fake-capillary.js';

/**
 * Per-tool argument generators for the fuzz suites, and the wire oracle: what each tool must put
 * on the wire for a given (valid) argument set, written from the documented API shapes and not
 * from the tools' own request builders.
 */

export const TOOL_NAMES = [
  'get_points_balance',
  'check_points_redeemable',
  'issue_redemption_code',
  'redeem_points',
  'request_points_redemption',
  'get_redemption_request',
  'update_redemption',
  'unlock_promised_points',
  'reverse_redemption',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export const SPEND_TOOLS = new Set<string>([
  'redeem_points',
  'request_points_redemption',
  'reverse_redemption',
]);

type Args = Record<string, unknown>;
type Arb<T = unknown> = fc.Arbitrary<T>;

// ---------------------------------------------------------------------------------------------
// Building blocks.

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = `${LOWER}${LOWER.toUpperCase()}0123456789`;
const chars = (set: string, min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...set.split('')), minLength: min, maxLength: max });
const digitString = (min: number, max: number) => chars('0123456789', min, max);

/** Characters that break naive query-string or JSON handling. */
const TRICKY = [
  '&',
  '=',
  '+',
  '#',
  '%',
  '%20',
  '%2F',
  '?',
  '/',
  ' ',
  '"',
  '\\',
  '\n',
  '\t',
  '\u0000',
  'é',
  '😀',
  '\u202e',
  '<b>',
  "'",
  ';',
  '..',
  '[]',
  '{}',
  '__proto__',
];
const textUnit = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...ALNUM.split('')) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...TRICKY) },
);
/** Well-formed Unicode text of min..max UTF-16 units, rich in awkward characters, sometimes at the limit. */
export const text = (min: number, max: number): Arb<string> =>
  fc
    .oneof(
      {
        weight: 9,
        arbitrary: fc
          .array(textUnit, { minLength: Math.max(min, 0), maxLength: Math.min(max, 16) })
          .map((a) => a.join('')),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom('x'.repeat(max), 'é'.repeat(max), '😀'.repeat(Math.floor(max / 2))),
      },
    )
    .filter((s) => s.length >= min && s.length <= max);

export const INT64_MAX = 9223372036854775807n;
/** Digit strings that fit int64, some with leading zeros, many at the 19-digit edge. */
export const int64Digits: Arb<string> = fc.oneof(
  fc.bigInt({ min: 0n, max: INT64_MAX }).map(String),
  digitString(1, 6).filter((d) => d.length > 0),
  fc.constantFrom(
    '0',
    '7',
    '9001',
    '9007199254740993',
    '1234567890123456789',
    '9223372036854775807',
    '007',
    '0009001',
  ),
);
const anyDigits = (max: number) =>
  fc.oneof(digitString(1, max), fc.constantFrom('9'.repeat(max), '1234567890123456789'.slice(0, max)));

/**
 * An argument that takes a string or a JSON whole number (ids, bill numbers, mobiles): mostly
 * the string form, sometimes a safe whole number whose digits are valid there too.
 */
const orWhole = (str: Arb<string>, whole: Arb<number> = fc.noBias(fc.maxSafeNat())): Arb<string | number> =>
  fc.oneof({ weight: 4, arbitrary: str }, { weight: 1, arbitrary: whole });
/** A whole number of min..max digits. */
const wholeDigits = (min: number, max: number) =>
  fc.noBias(fc.integer({ min: 10 ** (min - 1), max: 10 ** max - 1 }));

/** Points with at most 3 decimals, in range: as a JSON number. */
export const validPoints: Arb<number> = fc.oneof(
  fc.integer({ min: 1, max: 100_000 }),
  fc.integer({ min: 1, max: 1_000_000_000_000 }).map((k) => k / 1000),
  fc.integer({ min: 1, max: 99_999 }).map((k) => k / 1000),
  fc.constantFrom(
    0.001,
    0.1,
    0.3,
    1.1,
    2.675,
    4.35,
    1.005,
    8.675,
    999_999_999.999,
    1_000_000_000,
    123_456_789.123,
  ),
);

/** Points the API refuses: every one must be caught locally. */
export const invalidPoints: Arb<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    -0.001,
    0.0005,
    1e-7,
    1.1115,
    1e-19,
    5e-324,
    0.1 + 0.2,
    999_999_999.9990001,
    1_000_000_000.001,
    1e21,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER,
    1.0000001,
    4.3500001,
  ),
  fc.constantFrom('10', '1,5', '1.5', 'NaN', 'Infinity', '-Infinity', '1e3', '0x10', '', ' 5', '٥'),
  fc.constantFrom(null, true, false, [], {}, [5], { value: 5 }),
  // Any double with more than 3 decimals (or out of range).
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((x) => !(x > 0 && x <= 1e9 && Math.round(x * 1000) / 1000 === x)),
);

const email = fc
  .tuple(chars(ALNUM, 1, 12), chars(LOWER, 1, 10), chars(LOWER, 2, 4))
  .map(([l, d, t]) => `${l}@${d}.${t}`);
const mobile = orWhole(fc.stringMatching(/^\+?\d{6,15}$/), wholeDigits(6, 15));

export const customer: Arb<Args> = fc
  .record(
    { mobile, email, external_id: orWhole(text(1, 100)), id: orWhole(anyDigits(19)) },
    { requiredKeys: [] },
  )
  .filter((c) => Object.keys(c).length > 0);

const SOURCES = [
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
];

const group: Arb<Args> = fc
  .record(
    {
      id: orWhole(text(1, 50)),
      external_id: orWhole(text(1, 100)),
      primary_user_id: orWhole(text(1, 50)),
      primary_user_source: fc.constantFrom(...SOURCES),
      primary_user_account_id: orWhole(text(1, 100)),
      primary_user_identifier_type: fc.constantFrom('mobile', 'email', 'cardnumber', 'cardExternalId', 'id'),
      primary_user_identifier_value: orWhole(text(1, 100)),
    },
    { requiredKeys: [] },
  )
  .filter((g) => !!(g.id || g.external_id || g.primary_user_id || g.primary_user_identifier_value));

const dateTime = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 19).replace('T', ' '));
const date = dateTime.map((s) => s.slice(0, 10));
const fieldName = chars(`${ALNUM}_.-`, 1, 50).filter((k) => k !== '__proto__');
const customFields = fc.dictionary(fieldName, orWhole(text(0, 255)), { maxKeys: 4, noNullPrototype: true });
const reference = orWhole(chars(`${ALNUM}._:-`, 1, 100));
const idLike = orWhole(chars(`${ALNUM}_-`, 1, 50));
const validationCode = orWhole(chars(ALNUM, 4, 12), wholeDigits(4, 12));
const wholeInt64 = orWhole(int64Digits);

const redemptionFields = {
  customer,
  points: validPoints,
  transaction_number: orWhole(text(1, 100)),
  notes: text(0, 500),
  validation_code: validationCode,
  redemption_time: dateTime,
  external_reference_number: reference,
  custom_fields: customFields,
  program_id: orWhole(anyDigits(19)),
  skip_validation: fc.boolean(),
  validation_type: fc.constantFrom('MISSED_CALL', 'SMS'),
  group,
  dry_run: fc.boolean(),
};

/** Valid arguments per tool (every constraint of the tool's documented schema respected). */
export const VALID: Record<ToolName, Arb<Args>> = {
  get_points_balance: fc.record(
    {
      identifier_name: fc.constantFrom('mobile', 'email', 'externalId', 'id', 'cardnumber'),
      identifier_value: orWhole(text(1, 100)),
      source: fc.constantFrom(...SOURCES),
    },
    { requiredKeys: ['identifier_name', 'identifier_value'] },
  ),
  check_points_redeemable: fc.record(
    {
      customer,
      points: validPoints,
      program_id: orWhole(anyDigits(19)),
      validation_code: validationCode,
      skip_validation: fc.boolean(),
      validation_type: fc.constantFrom('MISSED_CALL', 'SMS'),
      group,
    },
    { requiredKeys: ['customer', 'points'] },
  ),
  issue_redemption_code: fc.record({ customer, points: validPoints }),
  redeem_points: fc.record(redemptionFields, { requiredKeys: ['customer', 'points'] }),
  request_points_redemption: fc.record(
    {
      entity: fc
        .record(
          { till_id: idLike, store_id: idLike, zone_id: idLike, concept_id: idLike },
          { requiredKeys: [] },
        )
        .filter((e) => Object.keys(e).length > 0),
      ...redemptionFields,
    },
    { requiredKeys: ['entity', 'customer', 'points'] },
  ),
  get_redemption_request: fc.record({ request_id: fc.uuid() }),
  update_redemption: fc
    .tuple(
      fc.oneof(
        idLike.map((redemption_id) => ({ redemption_id })),
        reference.map((external_reference_number) => ({ external_reference_number })),
      ),
      fc
        .record(
          {
            bill_number: orWhole(text(1, 100)),
            bill_id: fc.oneof(
              fc.bigInt({ min: 1n, max: INT64_MAX }).map(String),
              fc.constantFrom('1', '9007199254740993', '1234567890123456789', '9223372036854775807'),
              fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
            ),
            purpose: text(1, 255),
            custom_fields: customFields.filter((c) => Object.keys(c).length > 0),
          },
          { requiredKeys: [] },
        )
        .filter((u) => Object.keys(u).length > 0),
      fc.record(
        {
          entity: fc.record({
            type: fc.constantFrom('CUSTOMER', 'USERGROUP2', 'FLEET'),
            identifier_type: fc.constantFrom('mobile', 'email', 'externalId', 'id', 'cardnumber'),
            identifier_value: orWhole(text(1, 100)),
          }),
          dry_run: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    )
    .map(([a, b, c]) => ({ ...a, ...b, ...c })),
  unlock_promised_points: fc.record(
    {
      identifier_name: fc.constantFrom('mobile', 'id', 'externalId', 'cuid', 'primaryUserId'),
      identifier_value: orWhole(text(1, 100)),
      source: fc.constantFrom(...SOURCES),
      type: fc.constantFrom('CUSTOMER', 'USERGROUP2'),
      event_name: fc.constantFrom(
        'GenericEvent',
        'CustomerPromotionImport',
        'TargetCompleted',
        'LineitemsPointsPromotionImport',
        'BillPointsPromotionImport',
        'TransactionAdd',
        'GroupTransactionAdd',
      ),
      bill_number: orWhole(text(1, 100)),
      event_log_id: wholeInt64,
      line_item_ids: fc.array(wholeInt64, { maxLength: 4 }),
      item_codes: fc.array(orWhole(text(1, 100)), { maxLength: 3 }),
      bill_date: date,
      source_store_id: wholeInt64,
      source_till_id: wholeInt64,
      source_program_id: wholeInt64,
      dry_run: fc.boolean(),
    },
    { requiredKeys: ['identifier_name', 'identifier_value', 'source', 'event_name', 'bill_number'] },
  ),
  reverse_redemption: fc.record(
    { redemption_id: idLike, customer, points: validPoints, dry_run: fc.boolean() },
    { requiredKeys: ['redemption_id', 'customer'] },
  ),
};

// ---------------------------------------------------------------------------------------------
// Invalid values: one field at a time, so the error must name that field.

const notString: Arb<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e21, [], {}, ['a'], { a: 1 }),
  fc.integer(),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
);
/**
 * Neither a string nor a safe whole number >= 0, for the arguments that take either: a fraction,
 * a negative, a whole number above 2^53-1 (its digits already lost), or no number at all.
 */
const notStringNorWhole: Arb<unknown> = fc.oneof(
  notString.filter((v) => !(Number.isSafeInteger(v) && (v as number) >= 0)),
  fc.constantFrom(2 ** 53, 2 ** 63, 12345678901234567000, -5, 0.5),
);
/** Strings that are not well-formed Unicode (unpaired surrogates). */
const illFormed = fc.constantFrom('\uD800', 'a\uDC00b', 'ok\uD83D', '\uDFFF\uD800');
/** Over the limit (zod counts code points: an emoji is one). */
const tooLong = (max: number) =>
  fc.constantFrom('x'.repeat(max + 1), 'é'.repeat(max + 1), '😀'.repeat(max + 1), 'x'.repeat(100_000));
/** Bad values for free text; `whole`: the argument also takes a whole number. */
const badText = (min: number, max: number, whole = false) =>
  fc.oneof(
    whole ? notStringNorWhole : notString,
    tooLong(max),
    illFormed,
    ...(min > 0 ? [fc.constant('')] : []),
  );
const badMatching = (re: RegExp, max: number, whole = false) =>
  fc.oneof(
    whole ? notStringNorWhole : notString,
    tooLong(max),
    illFormed,
    text(0, 40).filter((s) => !re.test(s)),
  );
const badEnum = (values: string[]) =>
  fc.oneof(
    notString,
    illFormed,
    fc
      .constantFrom(...values.map((v) => v.toLowerCase()), ...values.map((v) => ` ${v}`), '', 'OTHER')
      .filter((v) => !values.includes(v)),
    text(0, 20).filter((s) => !values.includes(s)),
  );
const badBool = fc.constantFrom('true', 'false', 0, 1, null, [], {}, 'yes');
const badDigits = (max: number) =>
  fc.oneof(
    notStringNorWhole,
    illFormed,
    fc.constantFrom('', '-1', '1.5', ' 12', '12 ', '1e5', '０１', '١٢٣', '0x1F', '+1', '9'.repeat(max + 1)),
    digitString(max + 1, max + 6),
  );
const badInt64 = fc.oneof(badDigits(19), fc.constantFrom('9223372036854775808', '9999999999999999999'));
const badDateTime = fc.oneof(
  notString,
  fc.constantFrom(
    '2023-02-30 10:00:00',
    '2023-13-01 00:00:00',
    '2023-01-01T00:00:00',
    '1969-12-31 23:59:59',
    '2023-01-01 24:00:00',
    '2023-1-1 1:1:1',
    '2023-01-01',
    '',
    '2024-02-29 10:00:60',
    '２０２３-01-01 00:00:00',
  ),
);
const badDate = fc.oneof(
  notString,
  fc.constantFrom(
    '2023-02-29',
    '2023-00-10',
    '23-01-01',
    '2023/01/01',
    '2023-01-01 00:00:00',
    '',
    '1969-12-31',
  ),
);
const badObject = fc.constantFrom(null, 'x', 1, true, [], [{}]);
const DELETE = Symbol('delete');
// Not "__proto__" at the top level: the MCP SDK's own parse of `arguments` (a z.record) drops that
// key before any server code sees it. Nested, it reaches the tool schemas (see the mutations).
const extraKey = fc.oneof(
  fc.constantFrom(
    'dryrun',
    'Points',
    'customer_id',
    'confirm',
    'constructor',
    'toString',
    'k'.repeat(5000),
    '😀',
    '\u0000',
    '',
  ),
  chars(ALNUM, 1, 12),
);

/** [path, invalid value] pairs per tool; DELETE removes a required field. */
type Mutation = { path: string; value: Arb<unknown> };
const customerMutations = (p: string): Mutation[] => [
  {
    path: p,
    value: fc.oneof(
      badObject,
      fc.constant({}),
      fc.constant(JSON.parse('{"mobile":"919000000001","__proto__":"x"}')),
    ),
  },
  { path: `${p}.mobile`, value: badMatching(/^\+?\d{6,15}$/, 15, true) },
  {
    path: `${p}.email`,
    value: fc.oneof(
      notString,
      illFormed,
      fc.constantFrom('a@b', 'no-at', '@x.com', 'a@b.c', 'a b@c.de', `${'a'.repeat(250)}@b.cd`),
    ),
  },
  { path: `${p}.external_id`, value: badText(1, 100, true) },
  { path: `${p}.id`, value: badDigits(19) },
];
const groupMutations: Mutation[] = [
  {
    path: 'group',
    value: fc.oneof(badObject, fc.constant({}), fc.constant({ primary_user_source: 'WEBSITE' })),
  },
  { path: 'group.id', value: badText(1, 50, true) },
  { path: 'group.primary_user_source', value: badEnum(SOURCES) },
  {
    path: 'group.primary_user_identifier_type',
    value: badEnum(['mobile', 'email', 'cardnumber', 'cardExternalId', 'id']),
  },
];
const redemptionMutations: Mutation[] = [
  ...customerMutations('customer'),
  { path: 'customer', value: fc.constant(DELETE) },
  { path: 'points', value: invalidPoints },
  { path: 'points', value: fc.constant(DELETE) },
  { path: 'transaction_number', value: badText(1, 100, true) },
  { path: 'notes', value: badText(0, 500) },
  { path: 'validation_code', value: badMatching(/^[A-Za-z0-9]{4,12}$/, 12, true) },
  { path: 'redemption_time', value: badDateTime },
  { path: 'external_reference_number', value: badMatching(/^[A-Za-z0-9._:-]{1,100}$/, 100, true) },
  {
    path: 'custom_fields',
    value: fc.oneof(
      badObject,
      fc.constantFrom(
        { 'bad name': 'x' },
        { ['n'.repeat(51)]: 'x' },
        { a: 1.5 },
        { a: 2 ** 60 },
        { a: 'x'.repeat(256) },
        { a: null },
        { a: '\uD800' },
      ),
    ),
  },
  { path: 'program_id', value: badDigits(19) },
  { path: 'skip_validation', value: badBool },
  { path: 'validation_type', value: badEnum(['MISSED_CALL', 'SMS']) },
  ...groupMutations,
  { path: 'dry_run', value: badBool },
];

export const MUTATIONS: Record<ToolName, Mutation[]> = {
  get_points_balance: [
    {
      path: 'identifier_name',
      value: fc.oneof(badEnum(['mobile', 'email', 'externalId', 'id', 'cardnumber']), fc.constant(DELETE)),
    },
    { path: 'identifier_value', value: fc.oneof(badText(1, 100, true), fc.constant(DELETE)) },
    { path: 'source', value: badEnum(SOURCES) },
  ],
  check_points_redeemable: [
    ...customerMutations('customer'),
    { path: 'points', value: invalidPoints },
    { path: 'points', value: fc.constant(DELETE) },
    { path: 'program_id', value: badDigits(19) },
    { path: 'validation_code', value: badMatching(/^[A-Za-z0-9]{4,12}$/, 12, true) },
    { path: 'skip_validation', value: badBool },
    ...groupMutations,
  ],
  issue_redemption_code: [
    ...customerMutations('customer'),
    { path: 'points', value: invalidPoints },
    { path: 'customer', value: fc.constant(DELETE) },
  ],
  redeem_points: redemptionMutations,
  request_points_redemption: [
    { path: 'entity', value: fc.oneof(badObject, fc.constant({}), fc.constant(DELETE)) },
    { path: 'entity.till_id', value: badMatching(/^[A-Za-z0-9_-]{1,50}$/, 50, true) },
    ...redemptionMutations,
  ],
  get_redemption_request: [
    {
      path: 'request_id',
      value: fc.oneof(
        fc.constant(DELETE),
        notString,
        illFormed,
        fc.constantFrom(
          'abc',
          '../../etc/passwd',
          'd9df3b6562a711eeaa6d0aaee4e533d2',
          'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2x',
          'd9df3b65-62a7-11ee-aa6d-0aaee4e533d2/../x',
          'd9df3b65-62a7-11ee-aa6d-0aaee4e533d%',
        ),
        fc.uuid().map((u) => `${u}?x=1`),
      ),
    },
  ],
  update_redemption: [
    { path: 'redemption_id', value: badMatching(/^[A-Za-z0-9_-]{1,50}$/, 50, true) },
    { path: 'bill_number', value: badText(1, 100, true) },
    { path: 'bill_id', value: fc.oneof(badInt64, fc.constantFrom('0', '0123', 0, 12.5, 2 ** 63)) },
    { path: 'purpose', value: badText(1, 255) },
    { path: 'entity', value: fc.oneof(badObject, fc.constant({})) },
    { path: 'entity.type', value: badEnum(['CUSTOMER', 'USERGROUP2', 'FLEET']) },
    { path: 'entity.identifier_value', value: badText(1, 100, true) },
    { path: 'dry_run', value: badBool },
  ],
  unlock_promised_points: [
    {
      path: 'identifier_name',
      value: fc.oneof(badEnum(['mobile', 'id', 'externalId', 'cuid', 'primaryUserId']), fc.constant(DELETE)),
    },
    { path: 'identifier_value', value: fc.oneof(badText(1, 100, true), fc.constant(DELETE)) },
    { path: 'source', value: fc.oneof(badEnum(SOURCES), fc.constant(DELETE)) },
    { path: 'type', value: badEnum(['CUSTOMER', 'USERGROUP2']) },
    { path: 'event_name', value: fc.oneof(badEnum(['TransactionAdd', 'GenericEvent']), fc.constant(DELETE)) },
    { path: 'bill_number', value: fc.oneof(badText(1, 100, true), fc.constant(DELETE)) },
    { path: 'event_log_id', value: badInt64 },
    {
      path: 'line_item_ids',
      value: fc.oneof(
        badObject.filter((v) => !Array.isArray(v)),
        badInt64.map((v) => [v]),
        fc.constant(Array.from({ length: 501 }, () => '1')),
      ),
    },
    {
      path: 'item_codes',
      value: fc.oneof(fc.constantFrom('SKU', [''], [1.5], [2 ** 60], [true], ['x'.repeat(101)])),
    },
    { path: 'bill_date', value: badDate },
    { path: 'source_store_id', value: badInt64 },
    { path: 'source_till_id', value: badInt64 },
    { path: 'source_program_id', value: badInt64 },
  ],
  reverse_redemption: [
    {
      path: 'redemption_id',
      value: fc.oneof(badMatching(/^[A-Za-z0-9_-]{1,50}$/, 50, true), fc.constant(DELETE)),
    },
    ...customerMutations('customer'),
    { path: 'points', value: invalidPoints },
    { path: 'dry_run', value: badBool },
  ],
};

const setPath = (obj: Args, path: string, value: unknown): Args => {
  const out = structuredClone(obj);
  const keys = path.split('.');
  let cur: any = out;
  for (const k of keys.slice(0, -1)) {
    if (!cur[k] || typeof cur[k] !== 'object' || Array.isArray(cur[k])) cur[k] = {};
    cur = cur[k];
  }
  const last = keys[keys.length - 1];
  if (value === DELETE) delete cur[last];
  else Object.defineProperty(cur, last, { value, enumerable: true, writable: true, configurable: true });
  return out;
};

export interface Invalid {
  args: Args;
  /** The field made invalid: the error must name it. */
  field: string;
  /** False when a nested field was set on a parent object that did not exist (siblings may fail first). */
  parentExisted: boolean;
  kind: string;
}

/** A valid argument set with exactly one field made invalid (or an unknown argument added). */
export function invalidArgs(tool: ToolName): Arb<Invalid> {
  const muts = MUTATIONS[tool];
  const shape = Object.keys((ALL_TOOLS.find((t) => t.name === tool)!.input as any).shape);
  const options: Array<fc.WeightedArbitrary<Invalid>> = [
    {
      weight: 8,
      arbitrary: fc.tuple(VALID[tool], fc.integer({ min: 0, max: muts.length - 1 })).chain(([base, i]) => {
        const m = muts[i];
        const parent = m.path.split('.').slice(0, -1).join('.');
        const parentExisted = !parent || (base as any)[parent] !== undefined;
        return m.value.map((v) => ({
          args: setPath(base, m.path, v),
          field: m.path,
          parentExisted,
          kind: `mutate ${m.path}`,
        }));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          VALID[tool],
          extraKey.map((k) => k.replace(/\./g, '_')),
        )
        .filter(([, k]) => !shape.includes(k))
        .map(([base, k]) => ({
          args: setPath(base, k, 'x'),
          field: k.slice(0, 30),
          parentExisted: true,
          kind: 'unknown argument',
        })),
    },
  ];
  if (shape.includes('customer'))
    options.push({
      weight: 1,
      arbitrary: VALID[tool].map((base) => ({
        args: setPath(base, 'customer.phone', '919000000001'),
        field: 'customer.phone',
        parentExisted: true,
        kind: 'unknown nested argument',
      })),
    });
  return fc.oneof(...options);
}

/** Anything at all: junk objects that may borrow the tool's own keys. */
export function junkArgs(tool: ToolName): Arb<Args> {
  const keys = Object.keys(Object.assign({}, ...fc.sample(VALID[tool], { numRuns: 20, seed: 3 })));
  const key = fc.oneof(fc.constantFrom(...keys), extraKey, fc.string({ unit: 'binary', maxLength: 8 }));
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.constantFrom(
      'NaN',
      'Infinity',
      '-Infinity',
      '1,5',
      '0.0005',
      '1e-7',
      '1.1115',
      '9223372036854775808',
      '12345678901234567890',
    ),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.double(),
    fc.constantFrom(
      'x'.repeat(200_000),
      JSON.parse(`${'['.repeat(300)}${']'.repeat(300)}`),
      JSON.parse(`${'{"a":'.repeat(300)}1${'}'.repeat(300)}`),
    ),
  );
  return fc.oneof(
    fc.dictionary(key, value, { maxKeys: 6, noNullPrototype: true }),
    fc
      .tuple(VALID[tool], fc.dictionary(key, value, { minKeys: 1, maxKeys: 2, noNullPrototype: true }))
      .map(([b, j]) => ({ ...b, ...j })),
  );
}

// ---------------------------------------------------------------------------------------------
// The wire oracle.

export interface WireContext {
  baseUrl: string;
  basic: string;
  orgId: string;
  uiToken: string;
  signature: string;
}

const omitUndef = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
/** Points as a decimal string: JS's own shortest round-trip form, independent of the server's code. */
const P = (x: unknown) => String(x);
/** An argument given as a whole number travels as its digits: the oracle's own reading (String of a safe integer). */
const S = (v: unknown) => (typeof v === 'number' ? String(v) : (v as string | undefined));
/** A raw JSON number token's canonical digits (as quoteIntegers() reads them back). */
const canon = (d: string | number) => S(d)!.replace(/^0+(?=\d)/, '');

const customerQ = (c: any) =>
  omitUndef({ mobile: S(c.mobile), email: c.email, external_id: S(c.external_id), id: S(c.id) });
const groupQ = (g: any) =>
  g
    ? omitUndef({
        user_group2_id: S(g.id),
        user_group2_external_id: S(g.external_id),
        user_group2_primary_user_id: S(g.primary_user_id),
        user_group2_primary_user_source: g.primary_user_source,
        user_group2_primary_user_accountId: S(g.primary_user_account_id),
        user_group2_primary_user_identifier_type: g.primary_user_identifier_type,
        user_group2_primary_user_identifier_value: S(g.primary_user_identifier_value),
      })
    : {};
const redeemQ = (a: any) =>
  omitUndef({
    format: 'json',
    program_id: S(a.program_id),
    skip_validation: a.skip_validation === undefined ? undefined : String(a.skip_validation),
    validation_type: a.validation_type,
    ...groupQ(a.group),
  });
const redeemItem = (a: any, key: string) =>
  omitUndef({
    points_redeemed: P(a.points),
    customer: customerQ(a.customer),
    transaction_number: S(a.transaction_number),
    notes: a.notes || undefined,
    validation_code: S(a.validation_code),
    redemption_time: a.redemption_time,
    external_reference_number: key,
    custom_fields:
      a.custom_fields && Object.keys(a.custom_fields).length
        ? { field: Object.entries(a.custom_fields).map(([name, value]) => ({ name, value: S(value) })) }
        : undefined,
  });

export interface Expected {
  method: string;
  path: string;
  query: Record<string, unknown>;
  /** The body with every integer token read back as its digit string (see quoteIntegers). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** What a valid call must send. `key` is the idempotency key the server reported (spend tools). */
export function expectedWire(tool: ToolName, a: any, ctx: WireContext, key?: string): Expected {
  switch (tool) {
    case 'get_points_balance':
      return {
        method: 'GET',
        path: '/v2/customers/lookup/points/balance',
        query: {
          source: a.source ?? 'INSTORE',
          identifierName: a.identifier_name,
          identifierValue: S(a.identifier_value),
        },
      };
    case 'check_points_redeemable':
      return {
        method: 'GET',
        path: '/v1.1/points/isredeemable',
        query: omitUndef({
          format: 'json',
          ...customerQ(a.customer),
          points: P(a.points),
          program_id: S(a.program_id),
          issue_otp: 'false',
          validation_code: S(a.validation_code),
          skip_validation: a.skip_validation === undefined ? undefined : String(a.skip_validation),
          validation_type: a.validation_type,
          ...(a.group ? { group_redemption: 'true', ...groupQ(a.group) } : {}),
        }),
      };
    case 'issue_redemption_code':
      return {
        method: 'GET',
        path: '/v1.1/points/validationcode',
        query: { format: 'json', ...customerQ(a.customer), points: P(a.points) },
      };
    case 'redeem_points':
      return {
        method: 'POST',
        path: '/v1.1/points/redeem',
        query: redeemQ(a),
        body: { root: { redeem: [redeemItem(a, key!)] } },
      };
    case 'request_points_redemption':
      return {
        method: 'POST',
        path: '/api_gateway/v2/request-workflow/POINTS-REDEMPTION',
        query: {},
        headers: { 'x-cap-api-auth-org-id': ctx.orgId, 'x-cap-ui-auth-token': ctx.uiToken },
        body: {
          entityInfo: omitUndef({
            tillId: S(a.entity.till_id),
            storeId: S(a.entity.store_id),
            zoneId: S(a.entity.zone_id),
            conceptId: S(a.entity.concept_id),
          }),
          payload: {
            'IntouchAPITask-Payload': {
              hostname: ctx.baseUrl,
              path: '/v1.1/points/redeem',
              method: 'POST',
              pathParams: {},
              queryParams: redeemQ(a),
              body: { root: { redeem: [redeemItem(a, key!)] } },
              headers: {
                Authorization: ctx.basic,
                'content-type': 'application/json',
                'X-CAP-CLIENT-SIGNATURE': ctx.signature,
              },
            },
          },
        },
      };
    case 'get_redemption_request':
      return {
        method: 'GET',
        path: `/api_gateway/v2/request-workflow/requests/${a.request_id}`,
        query: {},
        headers: { 'x-cap-api-auth-org-id': ctx.orgId, 'x-cap-ui-auth-token': ctx.uiToken },
      };
    case 'update_redemption':
      return {
        method: 'PUT',
        path: '/v2/points/updateRedemption',
        query: {},
        body: omitUndef({
          redemptionId: S(a.redemption_id),
          externalReferenceNumber: S(a.external_reference_number),
          billNumber: S(a.bill_number),
          billId: a.bill_id === undefined ? undefined : canon(a.bill_id),
          purpose: a.purpose,
          customFields:
            a.custom_fields && Object.keys(a.custom_fields).length
              ? Object.fromEntries(Object.entries(a.custom_fields).map(([k, v]) => [k, S(v)]))
              : undefined,
          entity: a.entity
            ? {
                type: a.entity.type,
                identifierType: a.entity.identifier_type,
                identifierValue: S(a.entity.identifier_value),
              }
            : undefined,
        }),
      };
    case 'unlock_promised_points':
      return {
        method: 'POST',
        path: '/v2/points/unlockPromisedPoints',
        query: {
          identifierName: a.identifier_name,
          identifierValue: S(a.identifier_value),
          source: a.source,
          type: a.type ?? 'CUSTOMER',
        },
        body: omitUndef({
          eventName: a.event_name,
          billNumber: S(a.bill_number),
          eventLogId: a.event_log_id === undefined ? undefined : [canon(a.event_log_id)],
          lineItemIds: a.line_item_ids?.length ? a.line_item_ids.map(canon) : undefined,
          itemCodes: a.item_codes?.length ? a.item_codes.map(S) : undefined,
          billDate: a.bill_date,
          sourceStoreId: a.source_store_id === undefined ? undefined : canon(a.source_store_id),
          sourceTillId: a.source_till_id === undefined ? undefined : canon(a.source_till_id),
          sourceProgramId: a.source_program_id === undefined ? undefined : canon(a.source_program_id),
        }),
      };
    case 'reverse_redemption': {
      const c = a.customer;
      const identifier = c.mobile
        ? { type: 'mobile', value: S(c.mobile) }
        : c.email
          ? { type: 'email', value: c.email }
          : c.external_id
            ? { type: 'externalId', value: S(c.external_id) }
            : { type: 'id', value: S(c.id) };
      return {
        method: 'POST',
        path: '/v2/points/reverse',
        query: {},
        body: omitUndef({
          redemptionId: S(a.redemption_id),
          pointsToBeReversed: a.points === undefined ? undefined : P(a.points),
          identifier,
        }),
      };
    }
  }
}

/** Rewrites every bare integer token of a JSON text as a string, so 19-digit ids survive JSON.parse. */
export function quoteIntegers(json: string): string {
  let out = '';
  let inStr = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (inStr) {
      out += ch;
      if (ch === '\\') out += json[++i];
      else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') {
      inStr = true;
      out += ch;
      continue;
    }
    if (ch === '-' || (ch >= '0' && ch <= '9')) {
      let j = i + 1;
      while (j < json.length && /[0-9.eE+-]/.test(json[j])) j++;
      const tok = json.slice(i, j);
      out += /^-?\d+$/.test(tok) ? `"${tok}"` : tok;
      i = j - 1;
      continue;
    }
    out += ch;
  }
  return out;
}

/** Every points value a tool writes, with the argument it came from. */
function pointsOnWire(tool: ToolName, body: any, query: Record<string, string>): string[] {
  switch (tool) {
    case 'check_points_redeemable':
    case 'issue_redemption_code':
      return [query.points];
    case 'redeem_points':
      return [body?.root?.redeem?.[0]?.points_redeemed];
    case 'request_points_redemption':
      return [body?.payload?.['IntouchAPITask-Payload']?.body?.root?.redeem?.[0]?.points_redeemed];
    case 'reverse_redemption':
      return body?.pointsToBeReversed === undefined ? [] : [body.pointsToBeReversed];
    default:
      return [];
  }
}

/** Asserts a recorded request is exactly what the documentation says the call must send. */
export function expectWire(tool: ToolName, args: any, rec: Recorded, ctx: WireContext, key?: string): void {
  const exp = expectedWire(tool, args, ctx, key);
  expect(rec.method).toBe(exp.method);
  expect(rec.path).toBe(exp.path);
  expect(rec.query).toEqual(exp.query);
  expect(rec.headers.authorization).toBe(ctx.basic);
  for (const [h, v] of Object.entries(exp.headers ?? {})) expect(rec.headers[h]).toBe(v);
  if (exp.body === undefined) {
    expect(rec.body).toBe('');
  } else {
    expect(rec.headers['content-type']).toBe('application/json');
    // Valid JSON as sent (no [007], no NaN), and equal to the documented shape with exact digits.
    const plain = JSON.parse(rec.body);
    expect(JSON.parse(quoteIntegers(rec.body))).toEqual(exp.body);
    if (tool === 'update_redemption' && args.bill_id !== undefined) {
      expect(typeof plain.billId).toBe('number');
      expect(rec.body).toContain(`"billId":${canon(args.bill_id)}`);
      expect(BigInt(canon(args.bill_id)) <= INT64_MAX).toBe(true);
    }
    if (tool === 'unlock_promised_points')
      for (const v of [
        plain.sourceStoreId,
        plain.sourceTillId,
        plain.sourceProgramId,
        ...(plain.eventLogId ?? []),
        ...(plain.lineItemIds ?? []),
      ])
        if (v !== undefined) expect(typeof v).toBe('number');
  }
  for (const p of pointsOnWire(tool, exp.body === undefined ? undefined : JSON.parse(rec.body), rec.query)) {
    expect(p).toMatch(/^(0|[1-9]\d*)(\.\d{0,2}[1-9])?$/);
    expect(Number(p)).toBe(args.points);
  }
}

/** Asserts a dry run's preview shows the same request, credentials redacted. */
export function expectPreview(tool: ToolName, args: any, preview: any, ctx: WireContext, key?: string): void {
  const exp = expectedWire(tool, args, ctx, key);
  expect(preview.method).toBe(exp.method);
  expect(preview.url).toBe(`${ctx.baseUrl}${exp.path}`);
  expect(preview.query).toEqual(exp.query);
  if (exp.body !== undefined) {
    const body = JSON.parse(quoteIntegers(JSON.stringify(exp.body)));
    const task = body?.payload?.['IntouchAPITask-Payload'];
    if (task) task.headers.Authorization = '[REDACTED]';
    expect(preview.body).toEqual(body);
  }
  for (const [k, v] of Object.entries(preview.headers ?? {}))
    if (/auth|token/i.test(k) && !/org-id/i.test(k)) expect(v).toBe('[REDACTED]');
}
