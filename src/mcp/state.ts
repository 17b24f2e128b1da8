import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRequestStateCodec,
  type RequestStateCodec,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { App } from '../app.js';
import { QUESTION_TTL_MS } from '../safety/confirm.js';

/**
 * The `requestState` of a 2026-07-28 confirmation (input_required): the question's id and the
 * operation it is about, signed (HMAC-SHA256, the SDK's codec) with the server's key, bound to
 * the caller, valid for as long as a question is. Any replica with the same key can read it; the
 * ledger makes it single use (the answer is recorded under the question's id, once).
 *
 * It is signed, not encrypted: it carries an id and a hash of the operation's fingerprint,
 * nothing secret.
 */
export interface ConfirmState {
  /** The question's id: the key of the answer's ledger entry. */
  id: string;
  /** A hash of the operation's fingerprint. */
  op: string;
  /** When the question was asked (ms). */
  at: number;
}

export const opHash = (fingerprint: string) =>
  createHash('sha256').update(`capillary-op\0${fingerprint}`).digest('base64url').slice(0, 32);

/** The file the generated key lives in, in the data directory. */
export const STATE_KEY_FILE = 'state-key';

/**
 * The signing key: CAPILLARY_STATE_KEY, else a random key generated once and kept (mode 0600)
 * in the data directory, so a restart can still read the states it signed.
 */
export function stateKey(cfg: { stateKey?: string; dataDir: string }): string {
  if (cfg.stateKey) return cfg.stateKey;
  const file = join(cfg.dataDir, STATE_KEY_FILE);
  const read = () => readFileSync(file, 'utf8').trim();
  try {
    return read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process wrote it first: theirs is the key.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return read();
}

/**
 * Who is calling, as the state is bound to it: the HTTP bearer token's hash (passed as the
 * request's auth info) or, without one (stdio, a loopback listener), the client's name.
 */
export function callerOf(ctx: ServerContext): string {
  const envelope = ctx.mcpReq.envelope as Record<string, { name?: unknown } | undefined> | undefined;
  const info = envelope?.['io.modelcontextprotocol/clientInfo'];
  return `${ctx.http?.authInfo?.clientId ?? '-'}\0${typeof info?.name === 'string' ? info.name : ''}`;
}

const codecs = new WeakMap<App, RequestStateCodec<ConfirmState>>();

/** The app's codec, made on first use (the key is read or generated then, not at start). */
export function stateCodec(app: App): RequestStateCodec<ConfirmState> {
  let codec = codecs.get(app);
  if (!codec) {
    codec = createRequestStateCodec<ConfirmState>({
      key: stateKey(app.config),
      ttlSeconds: QUESTION_TTL_MS / 1000,
      bind: (ctx) => `capillary-confirm\0${callerOf(ctx)}`,
    });
    codecs.set(app, codec);
  }
  return codec;
}
