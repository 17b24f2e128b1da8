// Tools that move no points (read, notify, update, unlock): no ledger, still checked, audited
// when they write.
import type { CallToolResult } from '@modelcontextprotocol/server';
import { type App, auditSink } from '../app.js';
import { checkEnvelope } from '../capillary/envelope.js';
import { ToolError } from '../errors.js';
import { recordAttempt, recordAudit } from '../safety/audit.js';
import { PROCESS_OWNER } from '../safety/dir-lock.js';
import { type CodeAsk, decideCode } from '../safety/reserve.js';
import type { AnyTool } from '../toolkit/define.js';
import type { CallContext } from './call.js';
import { buildRequest, checkRefusal, toolContext, withToolHint } from './request.js';
import { fromUpstream, type Out, okResult } from './result.js';
import { ledger } from './spend.js';

/**
 * A message to a customer (a validation code) is counted before it is sent, per customer (the
 * identity resolved as for money calls, so another spelling is the same customer), in the
 * ledger's reserve step: the rate holds across processes and restarts.
 */
async function countMessage(app: App, tool: AnyTool, args: Record<string, any>, ctx: CallContext) {
  if (!tool.messages) return;
  const who = await app.identity.resolve(tool.messages(args), undefined, ctx.signal);
  const ask: CodeAsk = {
    tool: tool.name,
    customer: who.key,
    ids: who.ids,
    now: Date.now(),
    limits: app.config,
    owner: PROCESS_OWNER,
  };
  await ledger(app, () => app.store.reserve((v) => decideCode(v, ask), ask));
}

export async function plain(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  sendArgs: Record<string, any>,
  ctx: CallContext,
): Promise<CallToolResult> {
  const started = Date.now();
  const req = await buildRequest(app, tool, sendArgs);
  const mutating = tool.effect !== 'read';
  const audit = (a: {
    outcome: 'dry_run' | 'succeeded' | 'failed' | 'unknown';
    status?: number;
    code?: string | number;
  }) => recordAudit(auditSink(app), { tool: tool.name, args, started, ...a });
  if (args.dry_run) {
    // No note here: these tools' output schema has none, and a client checking it would reject the result.
    const out = { dry_run_request: app.client.preview(req) };
    if (mutating) await audit({ outcome: 'dry_run' });
    return okResult(app, out);
  }
  await countMessage(app, tool, sendArgs, ctx);
  // A write is recorded on disk before it is sent (the audit log fails closed).
  if (mutating) await recordAttempt(auditSink(app), { tool: tool.name, args, started });
  try {
    const res = await app.client.send(req, { mutating, signal: ctx.signal, onRetry: ctx.progress });
    let out: Out;
    try {
      const body = checkEnvelope(res, tool.envelope, mutating);
      checkRefusal(tool, body, res);
      out = tool.parse(body, args, res, toolContext(app)) as Out;
    } catch (e) {
      const answer =
        e instanceof ToolError && res.json !== undefined ? tool.readFailure?.(res.json, res) : undefined;
      if (!answer) throw e;
      out = answer as Out;
    }
    if (mutating) await audit({ outcome: 'succeeded', status: res.status });
    return okResult(app, fromUpstream(app, out));
  } catch (e) {
    if (mutating && e instanceof ToolError)
      await audit({
        outcome: e.body.outcome === 'unknown' ? 'unknown' : 'failed',
        status: e.body.http_status,
        code: e.body.code,
      });
    throw withToolHint(tool, e);
  }
}
