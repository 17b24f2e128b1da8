// Building the one upstream request from a tool's mapping: the tool sees the config it needs,
// never the credentials, except as the redacted or real header its payload embeds.
import type { App } from '../app.js';
import type { UpstreamRequest } from '../capillary/types.js';
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
      : await app.client.authorizationHeader();
  return tool.request(sendArgs, toolContext(app, key, embedded));
}
