import { basicAuthHeader, SANDBOX_CREDENTIALS, type SandboxHandle } from '../../src/sandbox/index.js';

export const AUTH = basicAuthHeader(SANDBOX_CREDENTIALS.username, SANDBOX_CREDENTIALS.password);
export const WF_HEADERS = {
  'X-CAP-API-AUTH-ORG-ID': SANDBOX_CREDENTIALS.orgId,
  'X-CAP-UI-AUTH-TOKEN': SANDBOX_CREDENTIALS.uiAuthToken,
};

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function call(
  sb: SandboxHandle,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: AUTH },
): Promise<Res> {
  const res = await fetch(sb.url + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function redeemBody(item: Record<string, unknown>) {
  return { root: { redeem: [item] } };
}

export async function redeem(sb: SandboxHandle, item: Record<string, unknown>, query = 'format=json') {
  return call(sb, 'POST', `/v1.1/points/redeem?${query}`, redeemBody(item));
}

export async function balance(sb: SandboxHandle, mobile: string): Promise<number> {
  const r = await call(
    sb,
    'GET',
    `/v2/customers/lookup/points/balance?source=INSTORE&identifierName=mobile&identifierValue=${mobile}`,
  );
  if (r.status !== 200) throw new Error(`balance ${r.status} ${r.text}`);
  return r.json.data.loyaltyPoints;
}

export function itemStatus(r: Res) {
  return r.json?.response?.responses?.points?.item_status;
}

/** A controllable clock for the `now` option. */
export function fakeClock(start = Date.UTC(2025, 0, 1, 10, 0, 0)) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

export const WORKFLOW_PATH = '/api_gateway/v2/request-workflow/POINTS-REDEMPTION';

/** Files a maker-checker request whose embedded call redeems `item` with `queryParams`. */
export function fileWorkflow(
  sb: SandboxHandle,
  item: Record<string, unknown>,
  queryParams: Record<string, unknown> = { format: 'json' },
) {
  return call(
    sb,
    'POST',
    WORKFLOW_PATH,
    {
      entityInfo: { entityType: 'CUSTOMER' },
      payload: {
        'IntouchAPITask-Payload': {
          hostname: 'sandbox',
          path: '/v1.1/points/redeem',
          method: 'POST',
          queryParams,
          headers: { Authorization: AUTH },
          body: { root: { redeem: [item] } },
        },
      },
    },
    { authorization: AUTH, ...WF_HEADERS },
  );
}

/** The checker's decision on a request ('approved' runs the embedded call). */
export function decideWorkflow(sb: SandboxHandle, requestId: string, actionDecision: string) {
  return call(
    sb,
    'PUT',
    WORKFLOW_PATH,
    { requestId, actionName: 'AdminTask', payload: { 'AdminTask-Payload': { actionDecision } } },
    { authorization: AUTH, ...WF_HEADERS },
  );
}
