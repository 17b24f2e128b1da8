import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import {
  customerLabel,
  idOf,
  orWhole,
  POINTS_CODES,
  pointsString,
  type RedemptionArgs,
  redeemItem,
  redeemQuery,
  redemptionFields,
  str,
} from '../src/toolkit/fields.js';

const id = (what: string) =>
  orWhole(z.string().regex(/^[A-Za-z0-9_-]{1,50}$/, 'letters, digits, _ -'))
    .optional()
    .describe(what);

/**
 * POST /api_gateway/v2/request-workflow/POINTS-REDEMPTION (maker-checker). Effect "spend": once a
 * checker approves (or the org auto-approves) the embedded redemption deducts points, and a repeat
 * with a new key files a second request. The server, never the agent, fills the embedded host,
 * path, method, format and headers.
 */
export default defineTool({
  name: 'request_points_redemption',
  title: 'Request a points redemption (maker-checker)',
  description:
    'File a redemption for a checker to approve; nothing is deducted until approved. Follow it with get_redemption_request. A repeat of the same call is replayed; pass a new external_reference_number to file another on purpose.',
  input: z
    .object({
      entity: z
        .object({
          till_id: id('Till id'),
          store_id: id('Store id'),
          zone_id: id('Zone id'),
          concept_id: id('Concept id'),
        })
        .strict()
        .refine((e) => e.till_id || e.store_id || e.zone_id || e.concept_id, {
          message: 'give at least one of till_id, store_id, zone_id, concept_id',
        })
        .describe('Where the request is made; at least one id'),
      ...redemptionFields,
    })
    .strict(),
  output: z.object({
    request_id: z.string().optional().describe('Request id (UUID) for get_redemption_request'),
    state: z.string().optional().describe('Workflow state, e.g. AdminTask (awaiting checker)'),
    request_type: z.string().optional().describe('Request type'),
    start_time: z.string().optional().describe('Filed at'),
    maker: z
      .object({
        user_id: z.string().optional().describe('InTouch user id'),
        user_name: z.string().optional().describe('User name or email'),
      })
      .optional()
      .describe('Who filed it (the X-CAP-UI-AUTH-TOKEN user)'),
  }),
  effect: 'spend',
  envelope: 'v2',
  embedsAuth: true,
  workflow: true,
  refusal: (body) => {
    const d = body?.data ?? {};
    const out = (k: string) => String(d.details?.[k] ?? d[k]) === 'false';
    const id = str(d.requestId);
    const filed = id
      ? `Request ${id} was filed but stops there: nothing will be redeemed.`
      : 'Nothing will be redeemed.';
    if (out('ValidateMakerAccess_Output'))
      return {
        code: 'maker_access_denied',
        message: `The workflow refused the maker: the InTouch user of CAPILLARY_UI_AUTH_TOKEN lacks maker access (CanMakeRequest) for this organization (ValidateMakerAccess_Output false). ${filed}`,
        hint: 'The operator must grant that user CanMakeRequest (Capillary access team) or configure another user token. Do not retry until then.',
      };
    if (out('ValidatePayload_Output'))
      return {
        code: 'workflow_payload_invalid',
        message: `The workflow found the embedded redemption invalid (ValidatePayload_Output false). ${filed}`,
        hint: 'Check the customer, points and program with check_points_redeemable; a corrected call files a new request.',
      };
    return undefined;
  },
  codes: POINTS_CODES,
  spend: {
    whose: (a) => ({ customer: a.customer, group: a.group }),
    meaning: (a) => ({ points: a.points, program_id: a.program_id, group: a.group }),
    points: (a) => a.points,
    family: 'redeem',
    describe: (a) =>
      `File a request to redeem ${pointsString(a.points)} points from customer ${customerLabel(a.customer)} (deducted when approved).`,
    key: (a) => a.external_reference_number,
    keyPrefix: 'mcp-req',
    keySentUpstream: true,
    resendable: false,
  },
  request: (a, ctx) => ({
    method: 'POST',
    host: 'workflow',
    path: '/api_gateway/v2/request-workflow/POINTS-REDEMPTION',
    body: {
      entityInfo: {
        ...(a.entity.till_id ? { tillId: a.entity.till_id } : {}),
        ...(a.entity.store_id ? { storeId: a.entity.store_id } : {}),
        ...(a.entity.zone_id ? { zoneId: a.entity.zone_id } : {}),
        ...(a.entity.concept_id ? { conceptId: a.entity.concept_id } : {}),
      },
      payload: {
        'IntouchAPITask-Payload': {
          // The host the approved redemption is sent to: the configured workflow host (the
          // page's own example names a CRM host), which is the API host unless set apart.
          hostname: ctx.config.workflowBaseUrl,
          path: '/v1.1/points/redeem',
          method: 'POST',
          pathParams: {},
          queryParams: Object.fromEntries(
            Object.entries(redeemQuery(a as RedemptionArgs)).filter(([, v]) => v !== undefined),
          ),
          body: { root: { redeem: [redeemItem(a as RedemptionArgs, ctx.idempotencyKey)] } },
          headers: {
            ...ctx.embeddedAuth,
            'content-type': 'application/json',
            'X-CAP-CLIENT-SIGNATURE': ctx.config.clientSignature,
          },
        },
      },
    },
  }),
  parse: (body) => {
    const d = body?.data ?? {};
    const maker = { user_id: idOf(d.userId), user_name: idOf(d.userName) };
    return {
      request_id: str(d.requestId),
      state: str(d.state),
      request_type: str(d.requestType),
      start_time: str(d.startTime),
      maker: maker.user_id || maker.user_name ? maker : undefined,
    };
  },
});
