import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  type JSONRPCRequest,
  ListPromptsRequestSchema,
  ListToolsRequestSchema,
  type Result,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { App } from '../app.js';
import { clip } from '../pipeline/args.js';
import { type CallContext, callTool } from '../pipeline/call.js';
import { getPrompt, promptsFor } from './prompts.js';

export const SERVER_NAME = 'capillary-loyalty-mcp';
export const SERVER_VERSION = '0.1.0';

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

/** A request's params checked against the SDK's own schema: invalid params (-32602) naming the first problem. */
function parseRequest<S extends z.ZodType>(schema: S, request: JSONRPCRequest): z.infer<S> {
  const r = schema.safeParse(request);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path[0] === 'params' ? issue.path.slice(1) : (issue?.path ?? []);
  const at = path.map((p) => clip(String(p))).join('.');
  throw new RpcError(
    ErrorCode.InvalidParams,
    `Invalid params for ${request.method}: ${at ? `${at}: ` : ''}${issue?.message ?? 'invalid'}`,
  );
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
export function createServer(app: App): Server {
  const server = new Server(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      capabilities: { tools: { listChanged: false }, prompts: { listChanged: false } },
      instructions: INSTRUCTIONS,
    },
  );
  const tools = app.listed;
  const prompts = promptsFor((name) => app.tools.has(name));
  server.fallbackRequestHandler = async (request, extra): Promise<Result> => {
    switch (request.method) {
      case 'tools/list':
        parseRequest(ListToolsRequestSchema, request);
        return { tools };
      case 'prompts/list':
        parseRequest(ListPromptsRequestSchema, request);
        return { prompts };
      case 'prompts/get': {
        const { params } = parseRequest(GetPromptRequestSchema, request);
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
        const { params } = parseRequest(CallToolRequestSchema, request);
        if (!app.tools.has(params.name))
          throw new RpcError(ErrorCode.InvalidParams, `Unknown tool: ${clip(params.name)}`);
        const progressToken = params._meta?.progressToken;
        let step = 0;
        // Confirmation asks through a form; a client that declares only URL-mode elicitation cannot.
        const canAsk = !!server.getClientCapabilities()?.elicitation?.form;
        // A client that declares URL-mode elicitation is handed the approval page's link that way.
        const canLink = !!server.getClientCapabilities()?.elicitation?.url;
        const ctx: CallContext = {
          signal: extra.signal,
          progress:
            progressToken === undefined
              ? undefined
              : (message) => {
                  void extra
                    .sendNotification({
                      method: 'notifications/progress',
                      params: { progressToken, progress: ++step, message: app.redactor.text(message) },
                    })
                    .catch(() => {});
                },
          elicit: canAsk
            ? async (message, title) => {
                const r = await server.elicitInput(
                  {
                    message: app.redactor.text(message),
                    requestedSchema: {
                      type: 'object',
                      properties: { confirm: { type: 'boolean', title, description: 'Tick to confirm' } },
                      required: ['confirm'],
                    },
                  },
                  { relatedRequestId: extra.requestId },
                );
                if (r.action === 'accept') return r.content?.confirm === true ? 'accept' : 'decline';
                return r.action;
              }
            : undefined,
          elicitUrl: canLink
            ? async (url, message, elicitationId) => {
                await server.elicitInput(
                  { mode: 'url', message: app.redactor.text(message), url, elicitationId },
                  { relatedRequestId: extra.requestId },
                );
              }
            : undefined,
        };
        return (await callTool(app, params.name, params.arguments, ctx)) as Result;
      }
      default:
        throw new RpcError(ErrorCode.MethodNotFound, 'Method not found');
    }
  };
  return server;
}
