import { z } from 'zod';
import { defineTool } from '../src/toolkit/define.js';
import { num, str } from '../src/toolkit/fields.js';

/**
 * GET /api_gateway/v2/request-workflow/requests/{requestId}. Effect "read". The id is checked as
 * a UUID and encoded into the path: nothing else from the agent reaches the URL.
 */
export default defineTool({
  name: 'get_redemption_request',
  title: 'Get a maker-checker redemption request',
  description: 'The state of a request filed by request_points_redemption and, once decided, its result.',
  input: z
    .object({
      request_id: z.uuid().describe('request_id from request_points_redemption'),
    })
    .strict(),
  output: z.object({
    request_id: z.string().optional().describe('Request id'),
    state: z.string().optional().describe('AdminTask = awaiting checker; Approved, Rejected, Failed'),
    start_time: z.string().optional().describe('Filed at'),
    end_time: z.string().optional().describe('Decided at'),
    decision: z.string().optional().describe('approved or rejected'),
    result: z
      .object({
        http_status: z.number().optional().describe('HTTP status'),
        redemption_id: z.string().optional().describe('Redemption id'),
        balance: z.number().optional().describe('Balance after'),
        code: z.number().optional().describe('Item code'),
        message: z.string().optional().describe('Item message'),
      })
      .optional()
      .describe('Outcome of the executed redemption'),
  }),
  effect: 'read',
  envelope: 'v2',
  workflow: true,
  request: (a) => ({
    method: 'GET',
    host: 'workflow',
    path: `/api_gateway/v2/request-workflow/requests/${encodeURIComponent(a.request_id)}`,
  }),
  parse: (body) => {
    const d = body?.data ?? {};
    const r = d.result;
    const p = r?.body?.response?.responses?.points;
    const item = p?.item_status;
    return {
      request_id: str(d.requestId),
      state: str(d.state),
      start_time: str(d.startTime),
      end_time: str(d.endTime),
      decision: str(d.details?.['AdminTask-Payload']?.actionDecision),
      result: r
        ? {
            http_status: num(r.httpStatus),
            redemption_id: str(p?.redemption_id),
            balance: num(p?.balance),
            code: num(item?.code ?? r?.body?.response?.status?.code),
            message: str(item?.message ?? r?.body?.response?.status?.message),
          }
        : undefined,
    };
  },
});
