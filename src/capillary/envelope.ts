// Reading Capillary's answer: the HTTP status and the envelope (v1.1 `response.status` and item
// status, v2 `errors[]`). It reports what the answer said; what that proves about a money call
// is decided in one place, src/safety/outcome.ts.
import { hintFor, ToolError } from '../errors.js';
import type { EnvelopeReading } from '../safety/outcome.js';
import type { UpstreamResponse } from './types.js';

export function safeParse(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type Envelope = 'v1.1' | 'v2';

/**
 * Reads both the HTTP status and Capillary's envelope. A 2xx with success "false" or a
 * non-empty errors array is a failure. Returns the parsed body on success.
 */
export function checkEnvelope(res: UpstreamResponse, kind: Envelope, mutating: boolean): any {
  const body = res.json as any;
  const fail = (
    code: string | number,
    message: string,
    outcome: 'failed' | 'unknown',
    retryable = false,
    reading: EnvelopeReading = { status: res.status, form: 'none' },
    upstream?: string,
  ) => {
    throw new ToolError(
      {
        code,
        message,
        // The API's own words are data for the agent to read, never part of the server's text.
        ...(upstream ? { upstream_message: upstream } : {}),
        hint:
          hintFor(code) ??
          (outcome === 'unknown'
            ? 'The outcome is unknown. Repeat the identical call: it is re-sent with the same external_reference_number.'
            : undefined),
        retryable,
        source: 'upstream',
        outcome,
        http_status: res.status,
      },
      reading,
    );
  };
  const status = res.status;
  // 5xx: for a mutating call we cannot know whether it was applied (unless the envelope says it failed).
  if (body === undefined) {
    if (status >= 200 && status < 300) {
      fail(
        'malformed_response',
        `The API answered HTTP ${status} with ${res.text ? 'a body that is not JSON' : 'an empty body'}.`,
        mutating ? 'unknown' : 'failed',
        true,
      );
    }
    fail(
      status,
      `The API answered HTTP ${status}${res.text ? ' with a body that is not JSON' : ''}.`,
      mutating && status >= 500 && status !== 503 && status !== 521 ? 'unknown' : 'failed',
      status >= 500 || status === 429,
    );
  }
  if (kind === 'v1.1') {
    const st = body?.response?.status;
    const item = findItemStatus(body?.response?.responses);
    const itemFailed = item && String(item.success) === 'false';
    if (String(st?.success) === 'false' || itemFailed || status >= 400) {
      const code = item && itemFailed ? item.code : (st?.code ?? status);
      const message = item && itemFailed ? item.message : st?.message;
      const unknown = mutating && status >= 500 && !st && status !== 503 && status !== 521;
      const genuine = !!st && typeof st === 'object';
      const shown = upstreamCode(code, status);
      fail(
        shown,
        refusal(shown, status, unknown),
        unknown ? 'unknown' : 'failed',
        status === 429 || status === 503 || status === 521,
        genuine
          ? { status, form: 'v1.1', code: code ?? undefined, level: item && itemFailed ? 'item' : 'request' }
          : { status, form: 'none' },
        upstreamText(message),
      );
    }
    if (!st)
      fail(
        'malformed_response',
        'The API answered without a response.status envelope.',
        mutating ? 'unknown' : 'failed',
        true,
      );
    return body;
  }
  const errs = Array.isArray(body?.errors) ? body.errors : [];
  if (errs.length || status >= 400) {
    const e = errs[0] ?? {};
    const code = e?.code ?? status;
    const unknown = mutating && status >= 500 && !errs.length && status !== 503 && status !== 521;
    const genuine = errs.length > 0 && !!e && typeof e === 'object' && e.code !== undefined;
    const shown = upstreamCode(code, status);
    fail(
      shown,
      refusal(shown, status, unknown),
      unknown ? 'unknown' : 'failed',
      status === 429 || status === 503 || status === 521,
      genuine ? { status, form: 'v2', code: e.code, level: 'request' } : { status, form: 'none' },
      upstreamText(e?.message),
    );
  }
  return body;
}

/** The server's own sentence for an envelope failure; the API's message goes in upstream_message. */
const refusal = (code: string | number, status: number, unknown: boolean) =>
  unknown
    ? `The API answered HTTP ${status} (code ${code}); whether the request was applied is unknown.`
    : `The API refused the request: code ${code}, HTTP ${status}.`;

/**
 * A vendor code as the agent sees it: a number, or a short token. Anything else an answer puts
 * there (a sentence, an object) is not a code: the HTTP status stands in. (The outcome rules read
 * the code as it came, in the EnvelopeReading.)
 */
function upstreamCode(code: unknown, status: number): string | number {
  if (typeof code === 'number' && Number.isFinite(code)) return code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.:-]{1,40}$/.test(code)) return code;
  return status;
}

/** The API's free text, when it is text (bounded later, with everything else it answered). */
const upstreamText = (m: unknown): string | undefined =>
  typeof m === 'string' ? m || undefined : typeof m === 'number' ? String(m) : undefined;

function findItemStatus(responses: any): any {
  if (!responses || typeof responses !== 'object') return undefined;
  for (const v of Object.values(responses)) {
    const item = Array.isArray(v) ? v[0] : v;
    if (item && typeof item === 'object' && (item as any).item_status) return (item as any).item_status;
  }
  return undefined;
}
