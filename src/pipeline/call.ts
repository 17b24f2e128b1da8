// The one choke point every tool call passes through, along the data's path: look the tool up,
// check its arguments, derive the operation once (money tools), dispatch, shape the result.
// Nothing here throws to the transport but an InputNeeded (a 2026-07-28 question to the client).
import type { CallToolResult } from '@modelcontextprotocol/server';
import { type App, auditSink } from '../app.js';
import { ToolError, validationError } from '../errors.js';
import { recordAudit } from '../safety/audit.js';
import { type Ask, InputNeeded, type Rounds } from '../safety/confirm.js';
import { isSpendTool } from '../toolkit/define.js';
import { checkArgs, checkSkipValidation, clip, pinProgram } from './args.js';
import { checkGroupNaming, type Identity } from './identity.js';
import { deriveOperation } from './operation.js';
import { plain } from './plain.js';
import { checkRequirements } from './requirements.js';
import { errorResult, toErrorBody } from './result.js';
import { spend } from './spend.js';

export { errorResult } from './result.js';

/** What the transport knows about the caller, for confirmation and progress. */
export interface CallContext {
  /** Asks the human; undefined when the client cannot elicit. */
  elicit?: Ask;
  /** Hands the human a link (URL-mode elicitation); undefined when the client cannot. */
  elicitUrl?: (url: string, message: string, id: string) => Promise<void>;
  /** Asks the human by ending the call with the question (2026-07-28 input_required). */
  rounds?: Rounds;
  /** Reports progress while the server waits (retries). */
  progress?: (message: string) => void;
  signal?: AbortSignal;
}

export async function callTool(
  app: App,
  name: string,
  rawArgs: unknown,
  ctx: CallContext = {},
): Promise<CallToolResult> {
  const tool = app.tools.get(name);
  if (!tool)
    return errorResult(app, validationError(undefined, `unknown tool "${clip(name)}"`, 'unknown_tool').body);
  try {
    if (app.ready) await app.ready;
    const args = checkArgs(tool, rawArgs ?? {});
    checkRequirements(tool, app.config);
    const sendArgs = pinProgram(tool, args, app.config.programId);
    checkSkipValidation(tool, sendArgs, app.config.allowSkipValidation);
    if (!isSpendTool(tool)) return await plain(app, tool, args, sendArgs, ctx);
    // One customer identity, resolved through the API before anything else (a dry run sends
    // nothing at all, so it keys on the normalised identifiers).
    const { customer, group } = tool.spend.whose(sendArgs);
    checkGroupNaming(group, app.config);
    let who: Identity;
    if (sendArgs.dry_run) who = app.identity.local(customer, group);
    else
      try {
        who = await app.identity.resolve(customer, group, ctx.signal);
      } catch (e) {
        // Nothing was sent; the attempt is audited all the same.
        const body = e instanceof ToolError ? e.body : undefined;
        await recordAudit(auditSink(app), {
          tool: tool.name,
          args,
          outcome: 'not_sent',
          started: Date.now(),
          status: body?.http_status,
          code: body?.code,
        });
        throw e;
      }
    return await spend(app, deriveOperation(tool, args, sendArgs, who), ctx);
  } catch (e) {
    // The one thing that goes on to the transport: the call ends by asking the client (rounds).
    if (e instanceof InputNeeded) throw e;
    return errorResult(app, toErrorBody(app.log, e, tool));
  }
}
