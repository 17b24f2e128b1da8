import { randomUUID } from 'node:crypto';
import {
  ProtocolErrorCode as ErrorCode,
  inputRequired,
  type JSONRPCRequest,
  type Result,
  Server,
  type ServerContext,
  specTypeSchemas,
} from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { App } from '../app.js';
import { ToolError } from '../errors.js';
import { clip } from '../pipeline/args.js';
import { type CallContext, callTool } from '../pipeline/call.js';
import { type Answer, InputNeeded, type Rounds } from '../safety/confirm.js';
import { getPrompt, promptsFor } from './prompts.js';
import { type ConfirmState, opHash, stateCodec } from './state.js';

export const SERVER_NAME = 'capillary-loyalty-mcp';
export const SERVER_VERSION = '0.1.0';

/**
 * The server's icon (MCP `icons`): a small SVG coin as a data URI, so no client fetches anything.
 * One for the server, not one per tool: every tool would repeat it in tools/list.
 */
const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="14" fill="#f5b301" stroke="#a66f00" stroke-width="2"/><path d="M12 23V9h5a4 4 0 0 1 0 8h-5" fill="none" stroke="#5a3d00" stroke-width="2.5"/></svg>';
export const SERVER_ICON = {
  src: `data:image/svg+xml;base64,${Buffer.from(ICON_SVG, 'utf8').toString('base64')}`,
  mimeType: 'image/svg+xml',
  sizes: ['any'],
};

/**
 * How long a 2026-07-28 client may cache the lists (`ttlMs`, `cacheScope`): they are the same
 * for every caller and never change while the process runs (the tool set is fixed at start), so
 * a shared cache may keep them for a while; a restart with another tool set is seen after that.
 */
const LIST_CACHE = { ttlMs: 300_000, cacheScope: 'public' as const };

const INSTRUCTIONS =
  'Capillary loyalty points. Look (get_points_balance), check (check_points_redeemable), act, verify. Repeats of a money call are replayed by the server, never spent twice; an error with outcome "unknown" means repeat the identical call.';

/**
 * A JSON-RPC error as the SDK sends it: its numeric code and its message as is. (An McpError's
 * message already starts "MCP error <code>: ", and the client adds that prefix again.)
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The protocol eras the SDK serves: `legacy` (initialize, up to 2025-11-25) and `modern` (2026-07-28). */
export type Era = 'legacy' | 'modern';

const { CallToolRequest, GetPromptRequest, InitializeRequest, ListPromptsRequest, ListToolsRequest } =
  specTypeSchemas as unknown as Record<
    'CallToolRequest' | 'GetPromptRequest' | 'InitializeRequest' | 'ListPromptsRequest' | 'ListToolsRequest',
    z.ZodType
  >;

/** A request's params checked against the SDK's own schema: invalid params (-32602) naming the first problem. */
function parseRequest<T>(schema: z.ZodType, request: JSONRPCRequest): T {
  const r = schema.safeParse(request);
  if (r.success) return r.data as T;
  const issue = r.error.issues[0];
  const path = issue?.path[0] === 'params' ? issue.path.slice(1) : (issue?.path ?? []);
  const at = path.map((p) => clip(String(p))).join('.');
  throw new RpcError(
    ErrorCode.InvalidParams,
    `Invalid params for ${request.method}: ${at ? `${at}: ` : ''}${issue?.message ?? 'invalid'}`,
  );
}

/**
 * The JSON-RPC error a malformed `initialize` gets: invalid params (-32602) naming the first
 * problem. The SDK answers `initialize` itself and would report malformed params as an internal
 * error with the whole validation dump, so both transports check it on the way in (stdio.ts, the
 * HTTP listener) and answer this instead; undefined for anything else.
 */
export function initializeError(msg: unknown): object | undefined {
  const m = msg as { method?: unknown; id?: unknown } | null;
  if (!m || typeof m !== 'object' || m.method !== 'initialize' || !('id' in m)) return undefined;
  try {
    parseRequest(InitializeRequest, m as JSONRPCRequest);
    return undefined;
  } catch (e) {
    const { code, message } = e as RpcError;
    return { jsonrpc: '2.0', id: m.id, error: { code, message } };
  }
}

/**
 * One MCP server over the shared app. The SDK's low-level Server is used on purpose: tools/list
 * is served from schemas converted once at start, and every call goes through callTool(), the
 * single choke point that turns bad arguments into structured tool errors.
 *
 * The four methods it serves are answered by its fallback handler, which checks each request's
 * params itself: the SDK's own check of a registered handler's request reports malformed params
 * as an internal error with the whole validation dump. Protocol errors (malformed params, an
 * unknown tool or prompt, a prompt's missing argument) are JSON-RPC errors, as the spec wants.
 */
export function createServer(app: App, era: Era = 'legacy'): Server {
  const server = new Server(
    { name: SERVER_NAME, version: SERVER_VERSION, icons: [SERVER_ICON] },
    {
      capabilities: { tools: { listChanged: false }, prompts: { listChanged: false } },
      instructions: INSTRUCTIONS,
      cacheHints: { 'server/discover': LIST_CACHE },
    },
  );
  const tools = app.listed;
  const prompts = promptsFor((name) => app.tools.has(name));
  server.fallbackRequestHandler = async (request, extra): Promise<Result> => {
    switch (request.method) {
      case 'tools/list':
        parseRequest(ListToolsRequest, request);
        return era === 'modern' ? { tools, ...LIST_CACHE } : { tools };
      case 'prompts/list':
        parseRequest(ListPromptsRequest, request);
        return era === 'modern' ? { prompts, ...LIST_CACHE } : { prompts };
      case 'prompts/get': {
        const { params } = parseRequest<{ params: { name: string; arguments?: Record<string, string> } }>(
          GetPromptRequest,
          request,
        );
        const prompt = prompts.find((p) => p.name === params.name);
        if (!prompt) throw new RpcError(ErrorCode.InvalidParams, `Unknown prompt: ${clip(params.name)}`);
        const args = params.arguments ?? {};
        const missing = (prompt.arguments ?? []).filter((a) => a.required && !args[a.name]?.trim());
        if (missing.length)
          throw new RpcError(
            ErrorCode.InvalidParams,
            `Missing required argument${missing.length > 1 ? 's' : ''} for prompt ${prompt.name}: ${missing.map((a) => a.name).join(', ')}`,
          );
        return getPrompt(prompt.name, args) as Result;
      }
      case 'tools/call': {
        const { params } = parseRequest<{
          params: {
            name: string;
            arguments?: Record<string, unknown>;
            _meta?: { progressToken?: string | number };
          };
        }>(CallToolRequest, request);
        if (!app.tools.has(params.name))
          throw new RpcError(ErrorCode.InvalidParams, `Unknown tool: ${clip(params.name)}`);
        const progressToken = params._meta?.progressToken;
        let step = 0;
        // Confirmation asks through a form; a client that declares only URL-mode elicitation cannot.
        // Pushing a request to the client exists only in the legacy era.
        const canAsk = era === 'legacy' && !!server.getClientCapabilities()?.elicitation?.form;
        // A client that declares URL-mode elicitation is handed the approval page's link that way.
        const canLink = era === 'legacy' && !!server.getClientCapabilities()?.elicitation?.url;
        const rounds = era === 'modern' ? await roundsOf(app, extra) : undefined;
        const ctx: CallContext = {
          rounds,
          signal: extra.mcpReq.signal,
          progress:
            progressToken === undefined
              ? undefined
              : (message) => {
                  void extra.mcpReq
                    .notify({
                      method: 'notifications/progress',
                      params: { progressToken, progress: ++step, message: app.redactor.text(message) },
                    })
                    .catch(() => {});
                },
          elicit: canAsk
            ? async (message, title) => {
                // The question rides on this call's own response stream (relatedRequestId): the
                // context's elicitInput does not say which request it belongs to.
                const r = await server.elicitInput(
                  { message: app.redactor.text(message), requestedSchema: confirmSchema(title) },
                  { relatedRequestId: extra.mcpReq.id },
                );
                if (r.action === 'accept') return r.content?.confirm === true ? 'accept' : 'decline';
                return r.action;
              }
            : undefined,
          elicitUrl: canLink
            ? async (url, message, elicitationId) => {
                await server.elicitInput(
                  { mode: 'url', message: app.redactor.text(message), url, elicitationId },
                  { relatedRequestId: extra.mcpReq.id },
                );
              }
            : undefined,
        };
        try {
          return (await callTool(app, params.name, params.arguments, ctx)) as Result;
        } catch (e) {
          if (e instanceof InputNeeded) return e.result as Result;
          throw e;
        }
      }
      default:
        throw new RpcError(ErrorCode.MethodNotFound, 'Method not found');
    }
  };
  return server;
}

/** The form the human answers: one checkbox. */
const confirmSchema = (title: string) => ({
  type: 'object' as const,
  properties: { confirm: { type: 'boolean' as const, title, description: 'Tick to confirm' } },
  required: ['confirm'],
});

/** What the client declared in this 2026-07-28 request's envelope. */
function envelopeCapabilities(
  ctx: ServerContext,
): { elicitation?: { form?: unknown; url?: unknown } } | undefined {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return envelope?.['io.modelcontextprotocol/clientCapabilities'] as
    | { elicitation?: { form?: unknown; url?: unknown } }
    | undefined;
}

/**
 * Confirmation on a 2026-07-28 call (input_required): the first round ends with the question and
 * a signed requestState (src/mcp/state.ts); the client's retry brings the answer and the state.
 *
 * A requestState is checked before anything runs: one that is not ours, was tampered with, is
 * expired or belongs to another caller is invalid params (-32602), whatever the call. One that
 * belongs to another operation is refused by the money path (nothing sent); one already used is
 * refused there too (the answer is in the ledger under its id). Undefined when the client cannot
 * answer a form (it did not declare form elicitation): the call is then refused as today.
 */
async function roundsOf(app: App, ctx: ServerContext): Promise<Rounds | undefined> {
  const raw = ctx.mcpReq.requestState<unknown>();
  let state: ConfirmState | undefined;
  if (raw !== undefined) {
    try {
      if (typeof raw !== 'string') throw new Error('malformed');
      state = await stateCodec(app).verify(raw, ctx);
    } catch {
      throw new RpcError(ErrorCode.InvalidParams, 'Invalid or expired requestState');
    }
  }
  const elicitation = envelopeCapabilities(ctx)?.elicitation;
  // A bare `elicitation: {}` means form; a client that declares only URL mode cannot answer one.
  if (!elicitation || typeof elicitation !== 'object') return undefined;
  if (elicitation.form === undefined && elicitation.url !== undefined) return undefined;
  return {
    answer(fingerprint) {
      if (!state) return undefined;
      if (state.op !== opHash(fingerprint))
        throw new ToolError({
          code: 'confirmation_failed',
          message: 'The requestState is about another operation; nothing was sent.',
          hint: 'Repeat this call without it to ask the human about this operation.',
          retryable: true,
          source: 'safety',
          outcome: 'not_sent',
        });
      const answer = answerOf(ctx.mcpReq.inputResponses?.confirm);
      return answer ? { id: state.id, answer, issued: state.at } : undefined;
    },
    async ask(fingerprint, message, title) {
      const requestState = await stateCodec(app).mint(
        { id: `q-${randomUUID()}`, op: opHash(fingerprint), at: Date.now() },
        ctx,
      );
      throw new InputNeeded(
        inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              message: app.redactor.text(message),
              requestedSchema: confirmSchema(title),
            }),
          },
          requestState,
        }),
      );
    },
  };
}

/** The human's answer in an elicitation response; undefined when it is none. */
function answerOf(r: unknown): Answer | undefined {
  if (!r || typeof r !== 'object') return undefined;
  const { action, content } = r as { action?: unknown; content?: { confirm?: unknown } };
  if (action === 'accept') return content?.confirm === true ? 'accept' : 'decline';
  if (action === 'decline' || action === 'cancel') return action;
  return undefined;
}
