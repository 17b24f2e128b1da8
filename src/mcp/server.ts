import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { App } from '../app.js';
import { type CallContext, callTool } from '../pipeline/call.js';
import { getPrompt, promptsFor } from './prompts.js';

export const SERVER_NAME = 'capillary-loyalty-mcp';
export const SERVER_VERSION = '0.1.0';

const INSTRUCTIONS =
  'Capillary loyalty points. Look (get_points_balance), check (check_points_redeemable), act, verify. Repeats of a money call are replayed by the server, never spent twice; an error with outcome "unknown" means repeat the identical call.';

/**
 * One MCP server over the shared app. The SDK's low-level Server is used on purpose: tools/list
 * is served from schemas converted once at start, and every call goes through callTool(), the
 * single choke point that turns bad input into structured errors instead of protocol text.
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
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const progressToken = req.params._meta?.progressToken;
    let step = 0;
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
      elicit: server.getClientCapabilities()?.elicitation
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
    };
    return callTool(app, req.params.name, req.params.arguments, ctx);
  });
  const prompts = promptsFor((name) => app.tools.has(name));
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts }));
  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    const listed = prompts.some((p) => p.name === req.params.name);
    const p = listed ? getPrompt(req.params.name, req.params.arguments ?? {}) : undefined;
    if (!p) throw new McpError(ErrorCode.InvalidParams, `unknown prompt "${req.params.name}"`);
    return p;
  });
  return server;
}
