import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The wire pieces of the inbound HTTP transport: JSON-RPC error replies, reading a bounded
 * request body, the header checks, and telling JSON-RPC requests from responses.
 */

export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** A JSON-RPC error body with no id: never credentials, stack traces or internals. */
export function reply(
  res: ServerResponse,
  status: number,
  message: string,
  headers?: Record<string, string>,
  code = -32000,
): void {
  const body = `{"jsonrpc":"2.0","error":{"code":${code},"message":${JSON.stringify(message)}},"id":null}`;
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export type Body = { ok: true; text: string } | { ok: false; tooLarge: boolean };

/** Reads the body up to max bytes; a declared or actual excess stops reading at once. */
export function readBody(req: IncomingMessage, max: number): Promise<Body> {
  const declared = Number(req.headers['content-length']);
  if (declared > max) return Promise.resolve({ ok: false, tooLarge: true });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        req.off('end', onEnd);
        resolve({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(c);
    };
    const onEnd = () =>
      resolve({
        ok: true,
        text: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', () => resolve({ ok: false, tooLarge: false }));
  });
}

export const isJsonContentType = (ct: string | undefined) => {
  if (!ct) return false;
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase() === 'application/json';
};

export const acceptsBoth = (accept: string | undefined) =>
  !!accept && accept.includes('application/json') && accept.includes('text/event-stream');

/** One JSON-RPC message as parsed from a POST body (checked to be an object with jsonrpc 2.0). */
export type Msg = Record<string, unknown>;
export const isResponse = (m: Msg) => !('method' in m) && 'id' in m && ('result' in m || 'error' in m);
export const isRequest = (m: Msg) => typeof m.method === 'string' && 'id' in m;
export const wantsProgress = (m: Msg) =>
  isRequest(m) &&
  (m.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken !== undefined;
