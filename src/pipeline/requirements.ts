// What a tool needs configured before anything is sent: checked right after its arguments, so a
// call the server cannot make properly is refused here, with the variables to set, instead of
// going out without its headers or with a credential that will have expired when it runs.
import type { Config } from '../config.js';
import { ToolError } from '../errors.js';
import type { AnyTool } from '../toolkit/define.js';

const notConfigured = (code: string, message: string, hint: string) =>
  new ToolError({ code, message, hint, retryable: false, source: 'config', outcome: 'not_sent' });

export function checkRequirements(
  tool: AnyTool,
  config: Pick<Config, 'orgId' | 'uiAuthToken' | 'auth'>,
): void {
  if (tool.workflow) {
    const missing = [
      ...(config.orgId ? [] : ['CAPILLARY_ORG_ID']),
      ...(config.uiAuthToken ? [] : ['CAPILLARY_UI_AUTH_TOKEN']),
    ];
    if (missing.length)
      throw notConfigured(
        'workflow_not_configured',
        `${tool.name} uses Capillary's request workflow, which needs the org id (X-CAP-API-AUTH-ORG-ID) and an InTouch user token (X-CAP-UI-AUTH-TOKEN); ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set. Nothing was sent.`,
        `The operator must set ${missing.join(' and ')}. Until then use redeem_points, or ask an operator.`,
      );
  }
  if (tool.embedsAuth && config.auth.kind !== 'basic')
    throw notConfigured(
      'workflow_needs_basic_auth',
      `${tool.name} embeds the credential its redemption runs with when a checker approves it, possibly hours later. This server uses OAuth, whose tokens expire within minutes, so the approved redemption would fail. Nothing was sent.`,
      'The operator must set CAPILLARY_USERNAME and CAPILLARY_PASSWORD (a till login, Basic auth, as the workflow expects); with both set, Basic auth is used.',
    );
}
