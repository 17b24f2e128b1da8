import { randomUUID } from 'node:crypto';
import type { ClientCapabilities, JSONRPCMessage } from '@modelcontextprotocol/server';

/**
 * Server-to-client requests (elicitation) in stateless Streamable HTTP.
 *
 * A tool call's POST gets its own short-lived transport. When the tool asks the human, the
 * server sends `elicitation/create` on that POST's SSE stream, and the client answers with a
 * NEW POST that carries only the JSON-RPC response, which lands on a new transport knowing
 * nothing of it. So outgoing requests get a process-wide unique, unguessable id, and the answer
 * is routed back here to the transport that asked. This map is the one piece of per-process
 * state of the HTTP transport: the answer must reach the same process (sticky routing when
 * there are replicas); an answer that reaches another replica gets 400 and the call ends with
 * an error after the SDK's request timeout, having sent nothing.
 */
export interface Pending {
  /** The id the asking Server used (its own counter). */
  id: string | number;
  /** The Mcp-Session-Id of the POST that asked, if any: the answer must carry the same. */
  session: string | undefined;
  /** Hands a (re-numbered) response to the transport that asked. */
  deliver(msg: JSONRPCMessage): void;
}

export class Relay {
  private readonly pending = new Map<string, Pending>();
  /** Called whenever the last pending request is answered, failed or forgotten. */
  onEmpty?: () => void;

  get size(): number {
    return this.pending.size;
  }

  /** Registers an outgoing request; returns the id to put on the wire. */
  register(p: Pending): string {
    const id = `srv-${randomUUID()}`;
    this.pending.set(id, p);
    return id;
  }

  /** The wire id of a still-pending request, by the asking server's id (for notifications/cancelled). */
  wireId(owned: Iterable<string>, id: string | number): string | undefined {
    for (const w of owned) if (this.pending.get(w)?.id === id) return w;
    return undefined;
  }

  forget(wireId: string): void {
    if (this.pending.delete(wireId) && this.pending.size === 0) this.onEmpty?.();
  }

  /** Delivers a client's response; false when its id is unknown, expired or from another session. */
  answer(msg: { id: unknown }, session: string | undefined): boolean {
    if (typeof msg.id !== 'string') return false;
    const p = this.pending.get(msg.id);
    if (!p || p.session !== session) return false;
    this.forget(msg.id);
    p.deliver({ ...(msg as JSONRPCMessage), id: p.id } as JSONRPCMessage);
    return true;
  }

  /** Ends the given pending requests with an error (client gone, shutdown), so no call waits on them. */
  fail(wireIds: Iterable<string>, message: string): void {
    for (const w of [...wireIds]) {
      const p = this.pending.get(w);
      if (!p) continue;
      this.forget(w);
      p.deliver({ jsonrpc: '2.0', id: p.id, error: { code: -32000, message } } as JSONRPCMessage);
    }
  }

  all(): string[] {
    return [...this.pending.keys()];
  }
}

/**
 * A self-contained Mcp-Session-Id that carries the one client capability the server acts on.
 *
 * A stateless server builds a fresh Server per POST, which never saw the client's `initialize`
 * and so does not know the client can elicit; the confirmation step would then always fail with
 * confirmation_unavailable. So, when (and only when) a client declares `elicitation` at
 * initialize, the response carries `Mcp-Session-Id: mcp1.<random>.<base64url capabilities>`;
 * spec-following clients echo it on every later request and any replica can read it back. No
 * session is stored anywhere. It is not a credential (the bearer token is): a client that
 * forges it only changes whether the server asks it a question.
 */
export function encodeSession(caps: unknown): string | undefined {
  const elicitation = normElicitation((caps as ClientCapabilities | undefined)?.elicitation);
  if (!elicitation) return undefined;
  const data = Buffer.from(JSON.stringify({ elicitation }), 'utf8').toString('base64url');
  return `mcp1.${randomUUID().replace(/-/g, '')}.${data}`;
}

const SESSION = /^mcp1\.[0-9a-f]{32}\.([A-Za-z0-9_-]{1,400})$/;

/** The capabilities a session id carries; undefined when it is absent or not ours. */
export function decodeSession(id: string | undefined): ClientCapabilities | undefined {
  if (!id) return undefined;
  const m = SESSION.exec(id);
  if (!m) return undefined;
  try {
    const elicitation = normElicitation(
      JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8'))?.elicitation,
    );
    return elicitation ? { elicitation } : undefined;
  } catch {
    return undefined;
  }
}

/** `{}` means form elicitation (the SDK's own reading); only form and url are kept. */
function normElicitation(
  e: unknown,
): { form?: Record<string, never>; url?: Record<string, never> } | undefined {
  if (!e || typeof e !== 'object' || Array.isArray(e)) return undefined;
  const o = e as Record<string, unknown>;
  const form = o.form !== undefined && typeof o.form === 'object';
  const url = o.url !== undefined && typeof o.url === 'object';
  if (!form && !url) return { form: {} };
  return { ...(form ? { form: {} } : {}), ...(url ? { url: {} } : {}) };
}
