import { z } from 'zod';
import { RawNumber } from '../src/capillary/wire-json.js';
import { defineTool } from '../src/toolkit/define.js';
import {
  customFieldsSchema,
  dryRunSchema,
  epochIso,
  idOf,
  idText,
  int64Digits,
  num,
  redemptionIdSchema,
  referenceSchema,
  str,
} from '../src/toolkit/fields.js';

/**
 * PUT /v2/points/updateRedemption. Effect "update": it overwrites a redemption's bill metadata
 * (destructive: the old values are gone) and the same update twice leaves the same record
 * (idempotent). Points never move.
 */
export default defineTool({
  name: 'update_redemption',
  title: 'Update redemption metadata',
  description:
    "Correct a past redemption's bill number, bill id, purpose or custom fields; name it by exactly one of redemption_id or external_reference_number. Points do not change: use reverse_redemption for that.",
  input: z
    .object({
      redemption_id: redemptionIdSchema.optional().describe('Redemption id'),
      external_reference_number: referenceSchema.optional().describe('Reference of the redemption'),
      bill_number: idText().optional().describe('New bill number'),
      bill_id: int64Digits()
        .refine((s) => /^[1-9]/.test(s), 'positive, no leading zero')
        .optional()
        .describe('New bill id, up to 19 digits (above 2^53-1 as a string)'),
      purpose: z.string().min(1).max(255).optional().describe('New purpose, <= 255 chars'),
      custom_fields: customFieldsSchema.optional(),
      entity: z
        .object({
          type: z.enum(['CUSTOMER', 'USERGROUP2', 'FLEET']).describe('Entity type'),
          identifier_type: z
            .enum(['mobile', 'email', 'externalId', 'id', 'cardnumber'])
            .describe('Identifier type'),
          identifier_value: idText().describe('Identifier value'),
        })
        .strict()
        .optional()
        .describe('Owner of the redemption'),
      dry_run: dryRunSchema,
    })
    .strict()
    .superRefine((a, ctx) => {
      if (!!a.redemption_id === !!a.external_reference_number)
        ctx.addIssue({
          code: 'custom',
          message: 'give exactly one of redemption_id or external_reference_number',
          params: { code: 749 },
        });
      if (
        !a.bill_number &&
        !a.bill_id &&
        !a.purpose &&
        !(a.custom_fields && Object.keys(a.custom_fields).length)
      )
        ctx.addIssue({
          code: 'custom',
          message: 'nothing to update: give bill_number, bill_id, purpose or custom_fields',
          params: { code: 748 },
        });
    }),
  output: z.object({
    redemption_id: z.string().optional().describe('Redemption id'),
    external_reference_number: z.string().optional().describe('Reference'),
    bill_number: z.string().optional().describe('Bill number'),
    bill_id: z.string().optional().describe('Bill id, exact digits'),
    purpose: z.string().optional().describe('Purpose'),
    points_redeemed: z.number().optional().describe('Points of the redemption'),
    customer_id: z.string().optional().describe('Customer id'),
    program_id: z.string().optional().describe('Loyalty program'),
    till_id: z.string().optional().describe('Till it was made at'),
    till_name: z.string().optional().describe('Till name'),
    notes: z.string().optional().describe('Notes'),
    redemption_time: z.string().optional().describe('When it was redeemed (ISO 8601)'),
    points_redemption_time: z.string().optional().describe('When the points were deducted (ISO 8601)'),
    redemption_date: z.string().optional().describe('Redemption date (ISO 8601)'),
    point_deductions: z
      .array(z.looseObject({}))
      .optional()
      .describe('Point deductions, as the API lists them'),
    warnings: z.array(z.string()).optional().describe('API warnings'),
  }),
  effect: 'update',
  envelope: 'v2',
  unknownHint:
    'The update may or may not have been applied. Repeating the identical update is safe: it writes the same values again.',
  codes: { 'entity.type:invalid_value': 1212, 'entity:*': 1219 },
  request: (a) => ({
    method: 'PUT',
    host: 'api',
    path: '/v2/points/updateRedemption',
    body: {
      ...(a.redemption_id ? { redemptionId: a.redemption_id } : {}),
      ...(a.external_reference_number ? { externalReferenceNumber: a.external_reference_number } : {}),
      ...(a.bill_number ? { billNumber: a.bill_number } : {}),
      ...(a.bill_id ? { billId: new RawNumber(a.bill_id) } : {}),
      ...(a.purpose ? { purpose: a.purpose } : {}),
      ...(a.custom_fields && Object.keys(a.custom_fields).length ? { customFields: a.custom_fields } : {}),
      ...(a.entity
        ? {
            entity: {
              type: a.entity.type,
              identifierType: a.entity.identifier_type,
              identifierValue: a.entity.identifier_value,
            },
          }
        : {}),
    },
  }),
  parse: (body, _a, res) => {
    const d = body?.data && typeof body.data === 'object' && !Array.isArray(body.data) ? body.data : body;
    // billId can exceed 2^53: read its digits from the raw text, never from the parsed number.
    // -1 is the API's "no bill id".
    const rawBillId = idOf(/"billId"\s*:\s*"?(-?\d+)"?/.exec(res.text)?.[1]);
    const warnings = Array.isArray(d?.warnings)
      ? d.warnings.map((w: any) => String(w?.message ?? w))
      : undefined;
    return {
      redemption_id: str(d?.redemptionId),
      external_reference_number: str(d?.externalReferenceNumber),
      bill_number: str(d?.billNumber),
      bill_id: rawBillId,
      purpose: str(d?.redemptionPurpose ?? d?.purpose),
      points_redeemed: num(d?.pointsRedeemed),
      customer_id: idOf(d?.customerId),
      program_id: idOf(d?.programId),
      till_id: idOf(d?.tillId),
      till_name: idOf(d?.tillName),
      notes: idOf(d?.notes),
      redemption_time: epochIso(d?.redemptionTime),
      points_redemption_time: epochIso(d?.pointsRedemptionTime),
      redemption_date: idOf(d?.redemptionDate),
      point_deductions: Array.isArray(d?.pointDeductionList)
        ? d.pointDeductionList.filter((x: unknown) => x && typeof x === 'object' && !Array.isArray(x))
        : undefined,
      warnings,
    };
  },
});
