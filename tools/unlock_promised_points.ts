import { z } from 'zod';
import { RawNumber } from '../src/capillary/wire-json.js';
import { defineTool } from '../src/toolkit/define.js';
import {
  dateSchema,
  dryRunSchema,
  EVENT_NAMES,
  idOf,
  idText,
  int64Digits,
  num,
  SOURCES,
} from '../src/toolkit/fields.js';

const raw = (v: string | undefined) => (v === undefined ? undefined : new RawNumber(v));

/**
 * POST /v2/points/unlockPromisedPoints. Effect "unlock": promised points become redeemable once;
 * a repeat finds nothing left (82323282) and changes nothing, so it is idempotent and not
 * destructive (no value is lost; points are made available).
 */
export default defineTool({
  name: 'unlock_promised_points',
  title: 'Unlock promised points',
  description:
    "Make a customer's promised points on a bill redeemable (e.g. after the return window). Once per bill; issues no new points.",
  input: z
    .object({
      identifier_name: z
        .enum(['mobile', 'id', 'externalId', 'cuid', 'primaryUserId'])
        .describe('Customer identifier type'),
      identifier_value: idText().describe('Customer identifier value'),
      source: z.enum(SOURCES).describe('Source of the identifier, usually INSTORE'),
      type: z.enum(['CUSTOMER', 'USERGROUP2']).optional().describe('Entity type; default CUSTOMER'),
      event_name: z.enum(EVENT_NAMES).describe('Event that promised the points'),
      bill_number: idText().describe('Bill number'),
      event_log_id: int64Digits().optional().describe('Event log id'),
      line_item_ids: z.array(int64Digits()).max(500).optional().describe('Line item ids'),
      item_codes: z.array(idText()).max(500).optional().describe('Item codes (SKUs)'),
      bill_date: dateSchema.optional().describe('Bill date, YYYY-MM-DD'),
      source_store_id: int64Digits().optional().describe('Store id'),
      source_till_id: int64Digits().optional().describe('Till id'),
      source_program_id: int64Digits().optional().describe('Program id'),
      dry_run: dryRunSchema,
    })
    .strict(),
  output: z.object({
    points_unlocked: z
      .array(
        z.object({
          bill_number: z.string().optional().describe('Bill'),
          item_code: z.string().optional().describe('Item'),
          points: z.number().describe('Points unlocked'),
          program_id: z.string().optional().describe('Program'),
          promotion_id: z.string().optional().describe('Promotion id (a promotion unlock)'),
          promotion_identifier: z.string().optional().describe('Promotion external identifier'),
          promotion_name: z.string().optional().describe('Promotion name'),
        }),
      )
      .describe('What was unlocked'),
    total_points_unlocked: z.number().describe('Sum of points unlocked'),
  }),
  effect: 'unlock',
  envelope: 'v2',
  unknownHint:
    'Points may have been unlocked. Check get_points_balance (promised points) before repeating; a repeat after a success finds nothing left (82323282) and changes nothing.',
  // Vendor codes only where the refusal is the one the page documents: an empty or missing
  // identifier, source or bill number; a missing or unknown event name; an unknown entity type.
  codes: {
    'identifier_name:missing': 82323284,
    'identifier_value:missing': 82323284,
    'identifier_value:too_small': 82323284,
    'source:missing': 82323284,
    'bill_number:missing': 82323271,
    'bill_number:too_small': 82323271,
    'event_name:*': 82323272,
    'type:*': 82323276,
  },
  request: (a) => ({
    method: 'POST',
    host: 'api',
    path: '/v2/points/unlockPromisedPoints',
    query: {
      identifierName: a.identifier_name,
      identifierValue: a.identifier_value,
      source: a.source,
      type: a.type ?? 'CUSTOMER',
    },
    body: {
      eventName: a.event_name,
      billNumber: a.bill_number,
      // The documented table form: eventLogId is an array (the explorer shows one int64).
      ...(a.event_log_id ? { eventLogId: [raw(a.event_log_id)] } : {}),
      ...(a.line_item_ids?.length ? { lineItemIds: a.line_item_ids.map(raw) } : {}),
      ...(a.item_codes?.length ? { itemCodes: a.item_codes } : {}),
      ...(a.bill_date ? { billDate: a.bill_date } : {}),
      ...(a.source_store_id ? { sourceStoreId: raw(a.source_store_id) } : {}),
      ...(a.source_till_id ? { sourceTillId: raw(a.source_till_id) } : {}),
      ...(a.source_program_id ? { sourceProgramId: raw(a.source_program_id) } : {}),
    },
  }),
  parse: (body) => {
    const list = Array.isArray(body?.pointsUnlocked)
      ? body.pointsUnlocked
      : (body?.data?.pointsUnlocked ?? []);
    const items = (list as any[]).map((u) => ({
      bill_number: idOf(u?.billNumber),
      item_code: idOf(u?.itemCode),
      points: num(u?.pointsUnlocked) ?? 0,
      program_id: idOf(u?.programId),
      promotion_id: idOf(u?.promotionId),
      promotion_identifier: idOf(u?.promotionIdentifier),
      promotion_name: idOf(u?.promotionName),
    }));
    const total = Math.round(items.reduce((s, u) => s + u.points * 1000, 0)) / 1000;
    return { points_unlocked: items, total_points_unlocked: total };
  },
});
