// Money calls: idempotency from the ledger, caps, confirmation, one call per customer at a time.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type App, auditSink } from '../app.js';
import { checkEnvelope } from '../capillary/client.js';
import { ToolError, type ToolErrorBody } from '../errors.js';
import { type AuditEvent, recordAttempt, recordAudit } from '../safety/audit.js';
import { checkCaps } from '../safety/caps.js';
import { confirm } from '../safety/confirm.js';
import { mintKey } from '../safety/fingerprint.js';
import type { LedgerEntry } from '../safety/ledger.js';
import type { CallContext } from './call.js';
import type { Operation } from './operation.js';
import { buildRequest, toolContext } from './request.js';
import { errorResult, fromUpstream, markReplayed, type Out, okResult, toErrorBody } from './result.js';

const audit = (app: App, op: Operation, ev: Omit<AuditEvent, 'tool' | 'args'>) =>
  recordAudit(auditSink(app), { tool: op.tool.name, args: op.args, ...ev });

const caps = (app: App, op: Operation, alreadyCounted = 0) =>
  checkCaps(app.config, (c, since) => app.store.spentSince(c, since), op.customer, op.points, alreadyCounted);

export async function spend(app: App, op: Operation, ctx: CallContext): Promise<CallToolResult> {
  const started = Date.now();
  if (op.args.dry_run) {
    await caps(app, op);
    const prev = await app.store.latest(op.fingerprint);
    const key = op.agentKey ?? (prev && reusable(prev) ? prev.key : '<minted when sent>');
    const req = await buildRequest(app, op.tool, op.sendArgs, key);
    await audit(app, op, { outcome: 'dry_run', started, key });
    return okResult(app, {
      dry_run_request: app.client.preview(req),
      ...(op.keySentUpstream ? { idempotency_key: key } : {}),
      note: 'dry run: nothing was sent',
    });
  }

  // Identical calls already in flight in this process share its single upstream request.
  const running = app.inflight.get(op.fingerprint);
  if (running) {
    const r = (await running) as CallToolResult;
    return r.isError
      ? r
      : markReplayed(app, r, 'identical call was in flight; its result is shared, nothing sent twice');
  }
  const job = (async () => {
    try {
      return await spendOnce(app, op, ctx, started);
    } catch (e) {
      return errorResult(app, toErrorBody(app.log, e, op.tool));
    }
  })();
  app.inflight.set(op.fingerprint, job);
  try {
    return await job;
  } finally {
    app.inflight.delete(op.fingerprint);
  }
}

/** A recorded attempt may be re-sent with its key when its outcome is unknown (or pending elsewhere). */
const reusable = (e: LedgerEntry) => e.status === 'unknown' || e.status === 'pending';

async function spendOnce(
  app: App,
  op: Operation,
  ctx: CallContext,
  started: number,
): Promise<CallToolResult> {
  const { tool, fingerprint: fp, customer, points, agentKey } = op;
  const now = Date.now();
  const prev = await ledger(app, async () => {
    await app.store.refresh();
    return app.store.latest(fp);
  });
  const inWindow = prev && now - prev.at <= app.config.idempotencyWindowMs;
  if (prev && inWindow && prev.status === 'succeeded' && prev.result) {
    await audit(app, op, { outcome: 'replayed', started, key: prev.key });
    return markReplayed(
      app,
      okResult(app, { ...prev.result, ...(op.keySentUpstream ? { idempotency_key: prev.key } : {}) }),
      `identical call succeeded at ${new Date(prev.at).toISOString()}; replayed, nothing sent`,
    );
  }
  if (agentKey) {
    const other = await app.store.byKey(agentKey);
    if (other && other.fingerprint !== fp)
      throw safetyError(
        'key_conflict',
        `external_reference_number "${agentKey}" was already used for a different ${other.tool} call.`,
        'Use a new external_reference_number for a different operation.',
      );
    if (other && other.status === 'failed')
      throw safetyError(
        'key_failed',
        `external_reference_number "${agentKey}" belongs to a failed attempt; Capillary does not accept it again.`,
        'Pass a new external_reference_number to try again.',
      );
  }
  if (prev && inWindow && reusable(prev) && !op.keySentUpstream && !agentKey)
    throw safetyError(
      'outcome_unknown',
      `An identical ${tool.name} call at ${new Date(prev.at).toISOString()} has an unknown outcome, and this API cannot deduplicate a re-send.`,
      'Check get_points_balance first. If it did not happen, call again with points set explicitly to what is still to be done (a different call), or ask an operator.',
    );
  const key = agentKey ?? (prev && inWindow && reusable(prev) ? prev.key : mintKey(op.keyPrefix));
  // This call re-sends an attempt whose outcome is unknown: same key, same ledger entry.
  const resent = prev && reusable(prev) && prev.key === key ? prev : undefined;
  const note =
    resent && inWindow
      ? `an earlier identical call had an unknown outcome; re-sent with the same external_reference_number ${key}, which Capillary deduplicates`
      : undefined;
  // The entry being re-sent is replaced, so its points must not count twice against the caps.
  const counted = resent?.points ?? 0;

  await caps(app, op, counted);
  await confirm(
    app.config.confirmAbovePoints,
    ctx.elicit,
    { points: op.confirmPoints, describe: op.describe, title: tool.title, tool: tool.name },
    app.log,
  );

  return app.locks.run(customer, async () => {
    // Caps again under the customer's lock: a concurrent call may have spent meanwhile.
    await caps(app, op, counted);
    const req = await buildRequest(app, tool, op.sendArgs, key);
    const entry: LedgerEntry = {
      key,
      fingerprint: fp,
      tool: tool.name,
      customer,
      points,
      status: 'pending',
      at: resent?.at ?? Date.now(),
      updated: Date.now(),
      agent_key: !!agentKey,
    };
    // Durable before anything is sent, in this order: the audit record of the attempt (no record,
    // no call), then the ledger entry (a crash after it reads back as unknown).
    await recordAttempt(auditSink(app), { tool: tool.name, args: op.args, started, key });
    try {
      await ledger(app, () => app.store.put(entry));
    } catch (e) {
      await audit(app, op, { outcome: 'not_sent', code: (e as ToolError).body.code, started, key });
      throw e;
    }
    try {
      const res = await app.client.send(req, { mutating: true, signal: ctx.signal, onRetry: ctx.progress });
      const body = checkEnvelope(res, tool.envelope, true);
      // Bounded here, so the ledger keeps no more of the answer than the agent is shown.
      const out = fromUpstream(app, tool.parse(body, op.args, res, toolContext(app, key)) as Out);
      // The outcome and the audit record are in their files before the answer leaves; their
      // fsyncs (group commit) run behind it. Only the pending entry above must be on disk first.
      await Promise.all([
        app.store.settle({ ...entry, status: 'succeeded', updated: Date.now(), result: out }),
        audit(app, op, { outcome: 'succeeded', status: res.status, started, key }),
      ]);
      return okResult(app, {
        ...out,
        ...(op.keySentUpstream ? { idempotency_key: key } : {}),
        ...(note ? { note } : {}),
      });
    } catch (e) {
      const body = e instanceof ToolError ? e.body : undefined;
      // A re-send of a key whose earlier attempt has an unknown outcome is settled only by an
      // answer about that key. Not sent, rate-limited, locked, 5xx or refused credentials say
      // nothing about the earlier attempt, which may have been applied: it stays unknown, so the
      // next repeat re-sends the same key again instead of minting one that would spend twice.
      const settlesNothing =
        body?.outcome === 'not_sent' ||
        !!body?.retryable ||
        (body?.http_status ?? 0) >= 500 ||
        body?.http_status === 401 ||
        body?.http_status === 403;
      const status =
        !body || body.outcome === 'unknown' || (!!resent && settlesNothing) ? 'unknown' : 'failed';
      await Promise.all([
        app.store.settle({ ...entry, status, updated: Date.now(), error: body && ledgerError(body) }),
        audit(app, op, { outcome: status, status: body?.http_status, code: body?.code, started, key }),
      ]);
      if (e instanceof ToolError && status === 'unknown')
        throw new ToolError({
          ...e.body,
          outcome: 'unknown',
          retryable: true,
          hint: op.keySentUpstream
            ? `The outcome is unknown: points may have been deducted. Repeat the identical call: the server re-sends it with the same external_reference_number (${key}), which Capillary deduplicates. Do not change the arguments or pass a new key.`
            : 'The outcome is unknown: points may have been restored. Check get_points_balance before anything else; an identical repeat is refused until then.',
        });
      if (e instanceof ToolError)
        throw new ToolError({
          ...e.body,
          hint: e.body.hint ?? 'Nothing was spent. A repeat gets a fresh key.',
        });
      throw e;
    }
  });
}

/** Runs a ledger step; if the ledger cannot be read or written, nothing is sent. */
async function ledger<T>(app: App, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    app.log.error('ledger unavailable; refusing to send', { error: String(e) });
    throw new ToolError({
      code: 'ledger_unavailable',
      message: 'The idempotency ledger could not be read or written, so nothing was sent.',
      hint: 'The operator must check CAPILLARY_DATA_DIR (disk space, permissions). Retrying is safe.',
      retryable: true,
      source: 'config',
      outcome: 'not_sent',
    });
  }
}

/** What the ledger keeps of an error: what decides a repeat, not the API's words. */
const ledgerError = ({ upstream_message: _, ...body }: ToolErrorBody): ToolErrorBody => body;

const safetyError = (code: string, message: string, hint: string) =>
  new ToolError({ code, message, hint, retryable: false, source: 'safety', outcome: 'not_sent' });
