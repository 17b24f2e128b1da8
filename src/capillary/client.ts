/**
 * Capillary's HTTP client: one exchange (ofetch on Node's fetch, keep-alive, a deadline for the
 * whole exchange, the body read up to its limit), auth (Basic, OAuth token cache and refresh),
 * and the bounded retries where nothing was processed. What an answer proves is decided
 * elsewhere (envelope.ts reads it, src/safety/outcome.ts judges it). One cohesive thing: the
 * retry loop, the exchange and the token share their error handling.
 */
import type { Config } from '../config.js';
import { ToolError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redactor } from '../safety/redact.js';
import { basicHeader } from './credentials.js';
import { safeParse } from './envelope.js';
import type {
  RequestPreview,
  ResponseHeaders,
  SendOptions,
  UpstreamRequest,
  UpstreamResponse,
} from './types.js';
import { stringifyWire, toPlain } from './wire-json.js';

const RETRY = { maxAttempts: 4, maxTotalMs: 8_000, maxRetryAfterMs: 5_000 } as const;

/** Walks an error's cause chain for a system error code (ECONNREFUSED, ECONNRESET, ...). */
function errorCode(e: unknown): string | undefined {
  let cur: any = e;
  for (let i = 0; cur && i < 6; i++) {
    if (typeof cur.code === 'string' && cur.code !== 'ERR_INVALID_ARG_TYPE') return cur.code;
    if (cur.name === 'TimeoutError' || cur.name === 'AbortError') return cur.name;
    cur = cur.cause;
  }
  return undefined;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** The client cancelled before this attempt was sent (every earlier one processed nothing). */
const cancelled = () =>
  new ToolError({
    code: 'cancelled',
    message: 'The client cancelled the call before the request was sent; nothing was sent.',
    hint: 'Call again if it is still wanted.',
    retryable: true,
    source: 'network',
    outcome: 'not_sent',
  });

/** A backoff wait that ends in `cancelled` when the client cancels. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch {
    throw cancelled();
  }
}

function retryAfterMs(h: ResponseHeaders): number | undefined {
  const v = h.get('retry-after');
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

interface Exchange {
  status: number;
  headers: ResponseHeaders;
  text: string;
}

/** The answer's body was larger than CAPILLARY_MAX_RESPONSE_BYTES: its read stopped there. */
class TooLarge extends Error {
  constructor(
    readonly status: number,
    readonly limit: number,
  ) {
    super(`response body over ${limit} bytes`);
  }
}

/**
 * Reads a body up to `limit` bytes. Past it the read stops and the stream is cancelled (the
 * connection is dropped): an endless or huge answer costs at most `limit` bytes of memory.
 */
async function readCapped(
  body: ReadableStream<Uint8Array> | null | undefined,
  status: number,
  limit: number,
) {
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw new TooLarge(status, limit);
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

type Fetcher = ReturnType<typeof import('ofetch')['ofetch']['create']>;
let fetcher: Promise<Fetcher> | undefined;

/**
 * ofetch, loaded on the first request rather than at start (a desktop client spawns the server
 * at every launch and its first message is tools/list, which needs no HTTP). Retries are ours,
 * never ofetch's; error statuses are answers to read, not exceptions.
 */
const getFetcher = (): Promise<Fetcher> =>
  (fetcher ??= import('ofetch').then((m) => m.ofetch.create({ retry: 0, ignoreResponseError: true })));

/**
 * One HTTP exchange through ofetch on Node's fetch (keep-alive pooling). Rejects with the
 * socket's error in the cause chain (ECONNREFUSED, ECONNRESET, ...), a TimeoutError after
 * timeoutMs for the whole exchange, or an AbortError when the signal fires. Redirects are not
 * followed: a 3xx is an answer, never a hop to another host with our credentials.
 */
async function exchange(
  url: string,
  init: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    timeoutMs: number;
    /** Largest body read (CAPILLARY_MAX_RESPONSE_BYTES). */
    maxBytes: number;
    signal?: AbortSignal;
  },
): Promise<Exchange> {
  const f = await getFetcher();
  // ofetch ignores its own timeout when a signal is given, so the deadline is part of one signal:
  // a plain controller and timer (AbortSignal.any/timeout cost measurably more per call).
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException(`no answer within ${init.timeoutMs} ms`, 'TimeoutError')),
    init.timeoutMs,
  );
  const outer = init.signal;
  const onAbort = () => ac.abort(new DOMException('the call was cancelled', 'AbortError'));
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await f.raw(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      responseType: 'stream',
      redirect: 'manual',
      signal: ac.signal,
    });
    const body = res._data as ReadableStream<Uint8Array> | undefined;
    // A declared length over the limit is refused before a byte of the body is read.
    if (Number(res.headers.get('content-length')) > init.maxBytes) {
      body?.cancel().catch(() => {});
      throw new TooLarge(res.status, init.maxBytes);
    }
    // The deadline covers the body too: a slow endless answer ends in a timeout.
    return {
      status: res.status,
      headers: res.headers,
      text: await readCapped(body, res.status, init.maxBytes),
    };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

/** Capillary's HTTP client: auth, timeouts, keep-alive, bounded safe retries. */
export class CapillaryClient {
  private basic?: string;
  private oauth?: { token: string; expiresAt: number };
  private oauthPending?: Promise<string>;

  constructor(
    private readonly cfg: Config,
    private readonly redactor: Redactor,
    private readonly log: Logger,
  ) {
    // Every derived credential is in the redactor already (configSecrets); issued tokens join it.
    if (cfg.auth.kind === 'basic') this.basic = basicHeader(cfg.auth.username, cfg.auth.password);
  }

  /** The embedded credential header with its value redacted, for dry-run previews. */
  redactedAuthorizationHeader(): Record<string, string> {
    return { Authorization: '[REDACTED]' };
  }

  /**
   * The Basic Authorization header, embedded in workflow payloads: the call it authorizes runs
   * when a checker approves, so only a credential that lasts will do (never an OAuth token).
   */
  authorizationHeader(): Record<string, string> {
    if (!this.basic) throw new Error('an embedded credential needs Basic auth (checked before sending)');
    return { Authorization: this.basic };
  }

  url(req: UpstreamRequest): string {
    return (req.host === 'workflow' ? this.cfg.workflowBaseUrl : this.cfg.baseUrl) + req.path;
  }

  /** The full URL with its query string. */
  private target(req: UpstreamRequest): string {
    const qs = new URLSearchParams(this.query(req)).toString();
    return qs ? `${this.url(req)}?${qs}` : this.url(req);
  }

  private query(req: UpstreamRequest): Record<string, string> {
    const q: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) q[k] = String(v);
    return q;
  }

  /** What would be sent, credentials redacted: the answer to a dry run. */
  preview(req: UpstreamRequest): RequestPreview {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    headers[this.basic ? 'Authorization' : 'X-CAP-API-OAUTH-TOKEN'] = '[REDACTED]';
    if (req.workflowAuth) {
      headers['X-CAP-API-AUTH-ORG-ID'] = this.cfg.orgId ?? '';
      headers['X-CAP-UI-AUTH-TOKEN'] = '[REDACTED]';
    }
    return this.redactor.value({
      method: req.method,
      url: this.url(req),
      query: this.query(req),
      headers,
      ...(req.body !== undefined ? { body: toPlain(req.body) } : {}),
    });
  }

  private async token(force: boolean): Promise<string> {
    if (!force && this.oauth && this.oauth.expiresAt > Date.now()) return this.oauth.token;
    if (this.cfg.auth.kind !== 'oauth') throw new Error('not oauth');
    const { key, secret } = this.cfg.auth;
    this.oauthPending ??= (async () => {
      try {
        const res = await exchange(`${this.cfg.baseUrl}/v3/oauth/token/generate`, {
          method: 'POST',
          body: JSON.stringify({ key, secret }),
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          timeoutMs: this.cfg.timeoutMs,
          maxBytes: this.cfg.maxResponseBytes,
        });
        const json = safeParse(res.text) as any;
        const tok = json?.data?.accessToken;
        if (res.status >= 300 || typeof tok !== 'string') {
          throw new ToolError({
            code: res.status === 200 ? 'oauth_failed' : res.status,
            message: 'Could not obtain an OAuth token from Capillary.',
            hint: 'The operator must check CAPILLARY_OAUTH_CLIENT_KEY and CAPILLARY_OAUTH_CLIENT_SECRET.',
            retryable: false,
            source: 'config',
            outcome: 'not_sent',
          });
        }
        this.redactor.addIssued(tok);
        const ttl = Number(json.data.ttlSeconds) || 300;
        // Refresh 10% (at most 30 s) before expiry so an in-flight call never carries a dying token.
        this.oauth = { token: tok, expiresAt: Date.now() + ttl * 1000 - Math.min(30_000, ttl * 100) };
        return tok;
      } catch (e) {
        if (e instanceof ToolError) throw e;
        if (e instanceof TooLarge)
          throw new ToolError({
            code: 'oauth_failed',
            message: `The OAuth token answer was larger than ${e.limit} bytes (CAPILLARY_MAX_RESPONSE_BYTES); the call was not sent.`,
            retryable: false,
            source: 'upstream',
            outcome: 'not_sent',
          });
        // The token request itself broke (timeout, reset, refused): the call it was for never
        // left, so its outcome is known. Left raw, send() would report a mutating call as unknown.
        const code = errorCode(e);
        throw new ToolError({
          code:
            code === 'TimeoutError'
              ? 'timeout'
              : code === 'ECONNREFUSED'
                ? 'connection_refused'
                : 'connection_lost',
          message: `Could not get an OAuth token from Capillary (${code ?? 'network error'}); the call was not sent.`,
          hint: 'Nothing was sent; retrying is safe.',
          retryable: true,
          source: 'network',
          outcome: 'not_sent',
        });
      } finally {
        this.oauthPending = undefined;
      }
    })();
    return this.oauthPending;
  }

  private async headers(req: UpstreamRequest, forceToken: boolean): Promise<Record<string, string>> {
    const h: Record<string, string> = { accept: 'application/json' };
    if (req.body !== undefined) h['content-type'] = 'application/json';
    if (this.basic) h.Authorization = this.basic;
    else h['X-CAP-API-OAUTH-TOKEN'] = await this.token(forceToken);
    if (req.workflowAuth) {
      if (this.cfg.orgId) h['X-CAP-API-AUTH-ORG-ID'] = this.cfg.orgId;
      if (this.cfg.uiAuthToken) h['X-CAP-UI-AUTH-TOKEN'] = this.cfg.uiAuthToken;
    }
    return h;
  }

  /**
   * Sends one request. Retries only where nothing was processed: connection refused before
   * sending, 429/503 with Retry-After, 521 (customer lock), and one token refresh on 401.
   * A timeout, reset or 5xx on a mutating call is final and reported as outcome unknown.
   */
  async send(req: UpstreamRequest, opts: SendOptions): Promise<UpstreamResponse> {
    const url = this.target(req);
    const body = req.body === undefined ? undefined : stringifyWire(req.body);
    const started = Date.now();
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const canRetry = (waitMs: number) =>
        attempt < RETRY.maxAttempts && Date.now() - started + waitMs <= RETRY.maxTotalMs;
      // The client's cancel is honoured before a request leaves and while the server waits to
      // retry. A money request already on the wire is not cut off: that could only turn its
      // outcome into unknown. It finishes, and its result is recorded and replayable.
      if (opts.signal?.aborted) throw cancelled();
      let res: Exchange;
      try {
        res = await exchange(url, {
          method: req.method,
          body,
          headers: await this.headers(req, false),
          timeoutMs: this.cfg.timeoutMs,
          maxBytes: this.cfg.maxResponseBytes,
          signal: opts.mutating ? undefined : opts.signal,
        });
      } catch (e) {
        if (e instanceof ToolError) throw e;
        if (e instanceof TooLarge)
          // The request reached the API and an answer came back that was not read: a money call
          // may have been applied (a body that cannot be read proves nothing); a read simply failed.
          throw new ToolError({
            code: 'response_too_large',
            message: `The API answered HTTP ${e.status} with a body larger than ${e.limit} bytes (CAPILLARY_MAX_RESPONSE_BYTES); it was not read.`,
            hint: opts.mutating
              ? 'The request may have been processed. Repeat the identical call: the server re-sends it with the same external_reference_number, which the API deduplicates.'
              : 'The answer is unusable; ask an operator.',
            retryable: opts.mutating,
            source: 'upstream',
            outcome: opts.mutating ? 'unknown' : 'failed',
            http_status: e.status,
          });
        const code = errorCode(e);
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
          const wait = 100 * 2 ** (attempt - 1);
          if (canRetry(wait)) {
            opts.onRetry?.(`connection refused; retrying in ${wait} ms`);
            await pause(wait, opts.signal);
            continue;
          }
          throw new ToolError({
            code: 'connection_refused',
            message: `Could not connect to the Capillary API (${code}); nothing was sent.`,
            hint: 'The API host is unreachable; retrying later is safe.',
            retryable: true,
            source: 'network',
            outcome: 'not_sent',
          });
        }
        const timeout = code === 'TimeoutError' || code === 'AbortError';
        if (!opts.mutating && attempt === 1) {
          opts.onRetry?.(`${timeout ? 'timeout' : 'connection error'}; retrying a read once`);
          continue;
        }
        throw new ToolError({
          code: timeout ? 'timeout' : 'connection_lost',
          message: timeout
            ? `No answer from the Capillary API within ${this.cfg.timeoutMs} ms.`
            : 'The connection to the Capillary API broke before an answer arrived.',
          hint: opts.mutating
            ? 'The request may have been processed. Repeat the identical call: the server re-sends it with the same external_reference_number, which the API deduplicates.'
            : 'Retrying is safe.',
          retryable: true,
          source: 'network',
          outcome: opts.mutating ? 'unknown' : 'not_sent',
        });
      }
      const status = res.status;
      if (
        status === 401 &&
        this.cfg.auth.kind === 'oauth' &&
        !refreshed &&
        (!opts.mutating || opts.resendable)
      ) {
        refreshed = true;
        await this.token(true);
        opts.onRetry?.('token refreshed after 401');
        continue;
      }
      if (status === 429 || status === 503 || status === 521) {
        const ra = retryAfterMs(res.headers);
        const wait = Math.min(ra ?? 250 * 2 ** (attempt - 1), RETRY.maxRetryAfterMs);
        // 429/503 retry only when the API said when; 521 (customer lock) always backs off. A
        // mutating call is sent again only when its key makes the repeat a no-op upstream.
        const again = !opts.mutating || !!opts.resendable;
        if (again && (status === 521 || ra !== undefined) && canRetry(wait)) {
          opts.onRetry?.(`HTTP ${status}; retrying in ${wait} ms`);
          this.log.debug('retrying', { status, wait, path: req.path });
          await pause(wait, opts.signal);
          continue;
        }
      }
      const text = res.text;
      return { status, headers: res.headers, text, json: safeParse(text) };
    }
  }
}
