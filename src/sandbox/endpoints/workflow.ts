/**
 * Request workflow (maker-checker) for points redemption: a maker files a redeem call, a checker
 * approves (the embedded call runs, with its own credentials) or rejects it.
 */
import { randomUUID } from 'node:crypto';
import {
  isObj,
  isoLocal,
  type Obj,
  queryOf,
  type Reply,
  type SandboxCore,
  text,
  v2Error,
  WORKFLOW_USER,
} from '../core.js';
import { SANDBOX_CREDENTIALS } from '../credentials.js';
import { stringifyExact } from '../exact-json.js';
import { scalarText } from '../points.js';
import type { WorkflowRec } from '../state.js';
import { authenticate } from './oauth.js';
import { redeem } from './redeem.js';

const bad = (msg: string) => v2Error(400, 400, `Invalid payload: ${msg}`);

/** Extra header check for request-workflow endpoints; null when fine. */
export function workflowHeaders(get: (name: string) => string | undefined): Reply | null {
  const org = get('x-cap-api-auth-org-id');
  const ui = get('x-cap-ui-auth-token');
  if (org === undefined || org.trim() === '' || ui === undefined || ui.trim() === '') {
    return v2Error(
      401,
      401,
      'Unauthorized: X-CAP-API-AUTH-ORG-ID and X-CAP-UI-AUTH-TOKEN headers are required',
    );
  }
  if (ui.trim() !== SANDBOX_CREDENTIALS.uiAuthToken)
    return v2Error(401, 401, 'Unauthorized: invalid X-CAP-UI-AUTH-TOKEN');
  if (org.trim() !== SANDBOX_CREDENTIALS.orgId)
    return v2Error(403, 403, 'Forbidden: no access to this organization');
  return null;
}

function renderRequest(w: WorkflowRec, full: boolean): string {
  const details: Obj = {
    'IntouchAPITask-Payload': w.task,
    ValidateMakerAccess_Output: true,
    ValidatePayload_Output: true,
  };
  const data: Obj = {
    requestId: w.requestId,
    userId: w.userId,
    userName: w.userName,
    requestType: w.requestType,
    state: w.state,
    startTime: isoLocal(w.startTime),
    endTime: w.endTime === null ? null : isoLocal(w.endTime),
    details,
  };
  if (full) {
    if (w.adminTask) {
      details['AdminTask-Payload'] = {
        actionDecision: w.adminTask.actionDecision,
        actionMessage: w.adminTask.actionMessage,
      };
    }
    data.result = w.result;
  }
  return stringifyExact({ data });
}

/** POST /api_gateway/v2/request-workflow/POINTS-REDEMPTION */
export function workflowCreate(core: SandboxCore, body: unknown): Reply {
  if (!isObj(body)) return bad('body must be a JSON object');
  if (!isObj(body.entityInfo)) return bad('entityInfo is required');
  const payload = body.payload;
  if (!isObj(payload) || !isObj(payload['IntouchAPITask-Payload'])) {
    return bad('payload."IntouchAPITask-Payload" is required');
  }
  const task = payload['IntouchAPITask-Payload'];
  if (text(task.hostname) === null) return bad('IntouchAPITask-Payload.hostname is required');
  const path = text(task.path);
  if (path === null || path.split('?')[0].replace(/\/+$/, '') !== '/v1.1/points/redeem') {
    return bad('IntouchAPITask-Payload.path must be /v1.1/points/redeem');
  }
  if ((text(task.method) ?? '').toUpperCase() !== 'POST')
    return bad('IntouchAPITask-Payload.method must be POST');
  if (task.pathParams !== undefined && task.pathParams !== null && !isObj(task.pathParams)) {
    return bad('IntouchAPITask-Payload.pathParams must be an object');
  }
  if (!isObj(task.queryParams)) return bad('IntouchAPITask-Payload.queryParams is required');
  if (!isObj(task.headers)) return bad('IntouchAPITask-Payload.headers is required');
  const b = task.body;
  const root = isObj(b) && isObj(b.root) ? b.root : null;
  const r = root?.redeem;
  const items = Array.isArray(r) ? r : r === undefined || r === null ? [] : [r];
  if (items.length !== 1 || !isObj(items[0])) {
    return bad(
      'IntouchAPITask-Payload.body.root.redeem must be one redemption (object or one-element array)',
    );
  }
  const item = items[0];
  if (text(item.points_redeemed) === null) return bad('body.root.redeem.points_redeemed is required');
  if (!isObj(item.customer)) return bad('body.root.redeem.customer is required');
  const w: WorkflowRec = {
    requestId: randomUUID(),
    userId: WORKFLOW_USER.userId,
    userName: WORKFLOW_USER.userName,
    requestType: 'points-redemption',
    state: 'AdminTask',
    startTime: core.now(),
    endTime: null,
    entityInfo: body.entityInfo,
    task,
    adminTask: null,
    result: null,
  };
  core.store.requests.set(w.requestId, w);
  core.commit();
  return { status: 200, body: renderRequest(w, false) };
}

/** GET /api_gateway/v2/request-workflow/requests/{requestId} */
export function workflowGet(core: SandboxCore, requestId: string): Reply {
  const w = core.store.requests.get(requestId);
  if (!w) return v2Error(404, 404, 'Request not found');
  return { status: 200, body: renderRequest(w, true) };
}

/** PUT /api_gateway/v2/request-workflow/POINTS-REDEMPTION (checker decision) */
export function workflowDecide(core: SandboxCore, body: unknown): Reply {
  if (!isObj(body)) return bad('body must be a JSON object');
  const requestId = text(body.requestId);
  if (requestId === null) return bad('requestId is required');
  const w = core.store.requests.get(requestId);
  if (!w) return v2Error(404, 404, 'Request not found');
  if (text(body.actionName) !== 'AdminTask') return bad('actionName must be "AdminTask"');
  const ap =
    isObj(body.payload) && isObj(body.payload['AdminTask-Payload'])
      ? body.payload['AdminTask-Payload']
      : null;
  const decision = (text(ap?.actionDecision) ?? '').toLowerCase();
  if (decision !== 'approved' && decision !== 'rejected') {
    return bad('payload."AdminTask-Payload".actionDecision must be "approved" or "rejected"');
  }
  if (w.state !== 'AdminTask')
    return v2Error(409, 409, `Request is not awaiting AdminTask (state: ${w.state})`);
  const actionMessage = text(ap?.actionMessage);
  const now = core.now();
  if (decision === 'rejected') {
    w.state = 'Rejected';
    w.endTime = now;
    w.adminTask = { actionDecision: 'rejected', actionMessage, decidedAt: now };
    core.commit();
    return { status: 200, body: renderRequest(w, true) };
  }
  const run = runApproved(core, w.task as Obj);
  if ('transient' in run) return run.transient; // nothing written, the request stays in AdminTask
  w.state = run.result.httpStatus === 200 ? 'Approved' : 'Failed';
  w.endTime = now;
  w.adminTask = { actionDecision: 'approved', actionMessage, decidedAt: now };
  w.result = run.result;
  core.commit();
  return { status: 200, body: renderRequest(w, true), destroy: run.destroy };
}

/** Run an approved request's embedded redeem call with its own headers, query and body. */
function runApproved(
  core: SandboxCore,
  task: Obj,
): { transient: Reply } | { result: { httpStatus: number; body: unknown }; destroy: boolean } {
  const headers = isObj(task.headers) ? task.headers : {};
  const lower = new Map<string, string>();
  for (const [k, v] of Object.entries(headers)) {
    const t = scalarText(v);
    if (t !== undefined) lower.set(k.toLowerCase(), t);
  }
  if (!authenticate(core, (n) => lower.get(n))) {
    const unauthorized = { response: { status: { success: 'false', code: 401, message: 'Unauthorized' } } };
    return { result: { httpStatus: 401, body: unauthorized }, destroy: false };
  }
  const r = redeem(core, queryOf(task.queryParams), task.body, 'v2');
  if (r.fault) return { transient: r };
  return { result: { httpStatus: r.status, body: JSON.parse(r.body) }, destroy: r.destroy === true };
}
