// Building the one upstream request from a tool's mapping: the tool sees the config it needs,
// never the credentials, except as the redacted or real header its payload embeds.
import type { App } from '../app.js';
import type { UpstreamRequest, UpstreamResponse } from '../capillary/types.js';
import { ToolError, type ToolErrorBody } from '../errors.js';
import type { AnyTool, ToolContext } from '../toolkit/define.js';

export function toolContext(app: App, key?: string, embeddedAuth?: Record<string, string>): ToolContext {
  const { environment, baseUrl, workflowBaseUrl, clientSignature } = app.config;
  return {
    config: { environment, baseUrl, workflowBaseUrl, clientSignature },
    idempotencyKey: key,
    embeddedAuth,
  };
}

export async function buildRequest(
  app: App,
  tool: AnyTool,
  sendArgs: Record<string, any>,
  key?: string,
): Promise<UpstreamRequest> {
  // A dry run makes no network call at all, not even for an OAuth token: the preview shows a
  // redacted placeholder where the embedded credentials go.
  const embedded = !tool.embedsAuth
    ? undefined
    : sendArgs.dry_run
      ? app.client.redactedAuthorizationHeader()
      : app.client.authorizationHeader();
  const req = tool.request(sendArgs, toolContext(app, key, embedded));
  // The workflow's own headers go with every call of a workflow tool (the tool says so once).
  return tool.workflow ? { ...req, workflowAuth: true } : req;
}

/**
 * A success envelope that is a refusal all the same (the tool's `refusal`): a failed upstream
 * answer, read like a documented refusal code in Capillary's v2 envelope (nothing will move).
 */
export function checkRefusal(tool: AnyTool, body: unknown, res: UpstreamResponse): void {
  const r = tool.refusal?.(body);
  if (!r) return;
  throw new ToolError(
    { ...r, retryable: false, source: 'upstream', outcome: 'failed', http_status: res.status },
    { status: res.status, form: 'v2', code: r.code, level: 'request' },
  );
}

/** The hint an error gets from its tool: the tool's own for an unknown outcome or for its code. */
export function toolHint(tool: AnyTool, body: ToolErrorBody): string | undefined {
  if (body.outcome === 'unknown' && tool.unknownHint) return tool.unknownHint;
  return tool.hints?.[body.code] ?? body.hint;
}

/** The error with its tool's hint (the same error when the hint does not change). */
export function withToolHint(tool: AnyTool, e: unknown): unknown {
  if (!(e instanceof ToolError)) return e;
  const hint = toolHint(tool, e.body);
  return hint === e.body.hint ? e : new ToolError({ ...e.body, hint }, e.reading);
}
