// Money calls: the ledger's atomic reserve step (idempotency, unresolved attempts, caps),
// confirmation, one call per customer at a time, and the outcome rules once an answer is in.
import type { CallToolResult } from '@modelcontextprotocol/server';
import { type App, auditSink } from '../app.js';
import { checkEnvelope } from '../capillary/envelope.js';
import { ToolError, type ToolErrorBody } from '../errors.js';
import { pendingError, requestApproval } from '../safety/approvals.js';
import { type AuditEvent, recordAttempt, recordAudit } from '../safety/audit.js';
import {
  askHuman,
  type HumanDeps,
  InputNeeded,
  type Need,
  type Question,
  whyAsked,
} from '../safety/confirm.js';
import { ownerGone, PROCESS_OWNER } from '../safety/dir-lock.js';
import type { LedgerEntry } from '../safety/ledger.js';
import { moneyOutcome } from '../safety/outcome.js';
import { type Decision, decide, type ReserveAsk } from '../safety/reserve.js';
import type { CallContext } from './call.js';
import type { Operation } from './operation.js';
import { buildRequest, checkRefusal, toolContext } from './request.js';
import { errorResult, fromUpstream, markReplayed, type Out, okResult, toErrorBody } from './result.js';

const audit = (app: App, op: Operation, ev: Omit<AuditEvent, 'tool' | 'args'>) =>
  recordAudit(auditSink(app), { tool: op.tool.name, args: op.args, ...ev });

/** How long another writer's pending entry counts as in flight: every retry the client may make. */
const staleMs = (app: App) => app.config.timeoutMs * 4 + 10_000;

function askFor(app: App, op: Operation, approval?: string): ReserveAsk {
  const now = Date.now();
  const stale = staleMs(app);
  const c = app.config;
  return {
    tool: op.tool.name,
    fingerprint: op.fingerprint,
    meaning: op.meaning,
    customer: op.customer,
    ids: op.identities,
    points: op.points,
    moved: op.moved,
    agentKey: op.agentKey,
    keyPrefix: op.keyPrefix,
    resendable: op.resendable,
    now,
    windowMs: app.config.idempotencyWindowMs,
    limits: c,
    confirm:
      c.confirmAbovePoints === undefined
        ? undefined
        : { above: c.confirmAbovePoints, windowMs: c.confirmWindowMs, cooldownMs: c.confirmCooldownMs },
    approval,
    owner: PROCESS_OWNER,
    live: (e) => e.status === 'pending' && !!e.owner && !ownerGone(e.owner) && now - e.updated < stale,
  };
}

export async function spend(app: App, op: Operation, ctx: CallContext): Promise<CallToolResult> {
  const started = Date.now();
  if (op.args.dry_run) {
    // A dry run shows what would be sent: the caps apply; the key is the one a send would use.
    const ask = askFor(app, op);
    const d = await ledger(app, () =>
      app.store.peek((v) => {
        try {
          return decide(v, ask);
        } catch (e) {
          // A cap refusal is shown; so is anything that is not a refusal (a store's request for
          // more of the ledger, an error).
          if (!(e instanceof ToolError) || String(e.body.code).startsWith('cap_')) throw e;
          return undefined;
        }
      }, ask),
    );
    const key =
      d?.kind === 'send' || d?.kind === 'replay' ? d.entry.key : (op.agentKey ?? '<minted when sent>');
    const req = await buildRequest(app, op.tool, op.sendArgs, key);
    await audit(app, op, { outcome: 'dry_run', started, key });
    return okResult(
      app,
      {
        dry_run_request: app.client.preview(req),
        ...(op.keySentUpstream ? { idempotency_key: key } : {}),
        note:
          d?.kind === 'ask'
            ? `dry run: nothing was sent; a send would first ask a human to confirm (${whyAsked(d.need)})`
            : 'dry run: nothing was sent',
      },
      op.tool,
    );
  }

  // Identical calls already in flight in this process share its single upstream request.
  const running = app.inflight.get(op.fingerprint);
  if (running) {
    const r = (await running) as CallToolResult;
    return r.isError
      ? r
      : markReplayed(
          app,
          r,
          'identical call was in flight; its result is shared, nothing sent twice',
          op.tool,
        );
  }
  const job = (async () => {
    try {
      return await spendOnce(app, op, ctx, started);
    } catch (e) {
      // The call ends with a question to the client (2026-07-28): not an error.
      if (e instanceof InputNeeded) throw e;
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

async function replay(app: App, op: Operation, prev: LedgerEntry, started: number): Promise<CallToolResult> {
  await audit(app, op, { outcome: 'replayed', started, key: prev.key });
  return okResult(
    app,
    {
      ...prev.result,
      ...(op.keySentUpstream ? { idempotency_key: prev.key } : {}),
      replayed: true,
      note: `identical call succeeded at ${new Date(prev.at).toISOString()}; replayed, nothing sent`,
    },
    op.tool,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The reserve step, waiting out another process's attempt for this customer while it is in flight. */
async function reserve(
  app: App,
  op: Operation,
  approval?: string,
): Promise<Exclude<Decision, { kind: 'wait' }>> {
  for (let i = 0; ; i++) {
    const ask = askFor(app, op, approval);
    const d = await ledger(app, () => app.store.reserve((v) => decide(v, ask), ask));
    if (d.kind !== 'wait') return d;
    // Bounded: past staleMs the other attempt no longer counts as live and decide() stops waiting.
    await sleep(Math.min(5 + 5 * i, 50));
  }
}

/** How many times a call asks a human before giving up (the budget moved while they answered). */
const MAX_QUESTIONS = 3;

const humanDeps = (app: App, ctx: CallContext, op: Operation): HumanDeps => ({
  questions: app.questions,
  ask: ctx.elicit,
  rounds: ctx.rounds,
  answered: (id, issued) => {
    // The look reaches back to the question, however short the cooldown (0 remembers no "no").
    const base = askFor(app, op, id);
    const since = Math.min(issued, base.now - (base.confirm?.cooldownMs ?? 0));
    const ask = { ...base, confirm: base.confirm && { ...base.confirm, cooldownMs: base.now - since } };
    return ledger(app, () =>
      app.store.peek((v) => {
        if (v.approval(id)) return true;
        const no = ask.confirm && v.declinedSince(ask.ids, since);
        return !!no && no.at >= issued;
      }, ask),
    );
  },
  record: (e) => ledger(app, () => app.store.put(e)),
  recordOnce: (e) => ledger(app, () => app.store.answerOnce(e)),
  log: app.log,
  owner: PROCESS_OWNER,
  cooldownMs: app.config.confirmCooldownMs,
});

const questionOf = (op: Operation): Question => ({
  tool: op.tool.name,
  title: op.tool.title,
  summary: op.describe,
  facts: op.facts,
  fingerprint: op.fingerprint,
  meaning: op.meaning,
  customer: op.customer,
  ids: op.identities,
  moved: op.moved,
});

/**
 * Whether the yes is given on the approval page (CAPILLARY_APPROVAL) rather than asked here: a
 * client that can answer (form elicitation, or input_required on 2026-07-28) is asked unless the
 * operator wants the page.
 */
const onThePage = (app: App, ctx: CallContext) =>
  !!app.console &&
  (app.config.approval === 'console' || (app.config.approval === 'auto' && !ctx.elicit && !ctx.rounds));

/**
 * The call waits for a human on the approval page (safety/approvals.ts): its request, pending in
 * the ledger, and the `approval_pending` result; a client that takes URL-mode elicitation is
 * handed the link that way too.
 */
async function awaitingApproval(app: App, op: Operation, ctx: CallContext, need: Need): Promise<unknown> {
  const c = app.config;
  const s = await ledger(app, () =>
    requestApproval(
      { store: app.store, owner: PROCESS_OWNER, ttlMs: c.approvalTtlMs, cooldownMs: c.confirmCooldownMs },
      questionOf(op),
      need,
    ),
  );
  const url = `${app.console!.url}/approvals/${s.handle}`;
  await audit(app, op, { outcome: 'refused', code: 'approval_pending', started: Date.now() });
  if (ctx.elicitUrl)
    await ctx
      .elicitUrl(url, `Approve or decline: ${op.describe}`, s.handle)
      .catch((e) => app.log.debug('URL elicitation not taken', { error: String(e) }));
  return pendingError(s, url);
}

async function spendOnce(
  app: App,
  op: Operation,
  ctx: CallContext,
  started: number,
): Promise<CallToolResult> {
  let approval: string | undefined;
  for (let asked = 0; asked < MAX_QUESTIONS; ) {
    // First a look, writing nothing: a replay or a refusal comes before any human is asked.
    // (Without a confirmation threshold nobody is asked, and the reserve step below decides the
    // same in one step less.)
    const ask = askFor(app, op, approval);
    const pre =
      ask.confirm === undefined
        ? undefined
        : await ledger(app, () => app.store.peek((v) => decide(v, ask), ask));
    if (pre?.kind === 'replay') return replay(app, op, pre.entry, started);
    if (pre?.kind === 'ask') {
      if (onThePage(app, ctx)) throw await awaitingApproval(app, op, ctx, pre.need);
      approval = await askHuman(humanDeps(app, ctx, op), questionOf(op), pre.need);
      asked++;
    }
    // The rules again, atomically with the pending entry: the yes is spent there.
    const done = await app.locks.run(op.customer, () => sendOnce(app, op, ctx, started, approval));
    if (done) return done;
  }
  throw new ToolError({
    code: 'confirmation_required',
    message: `This call still needs a human's yes after ${MAX_QUESTIONS} questions (other calls for this customer used the approval or the budget meanwhile); nothing was sent.`,
    hint: 'Call again once the other calls for this customer are done.',
    retryable: true,
    source: 'safety',
    outcome: 'not_sent',
  });
}

/** Reserves and sends; undefined when the reserve step wants a (new) human's yes first. */
async function sendOnce(
  app: App,
  op: Operation,
  ctx: CallContext,
  started: number,
  approval: string | undefined,
): Promise<CallToolResult | undefined> {
  const { tool } = op;
  const d = await reserve(app, op, approval);
  if (d.kind === 'ask') return undefined;
  if (d.kind === 'replay') return replay(app, op, d.entry, started);
  const { entry, resent } = d;
  const key = entry.key;
  const note = resent
    ? `an earlier identical call had an unknown outcome; re-sent with the same external_reference_number ${key}, which Capillary deduplicates`
    : undefined;
  let res: Awaited<ReturnType<App['client']['send']>>;
  let body: any;
  try {
    const req = await buildRequest(app, tool, op.sendArgs, key);
    // The audit log fails closed: the attempt is on disk before the request leaves, or it does
    // not leave (not_sent; the reserved entry is settled as not sent and its key stays usable).
    await recordAttempt(auditSink(app), { tool: tool.name, args: op.args, started, key });
    res = await app.client.send(req, {
      mutating: true,
      resendable: op.resendable,
      signal: ctx.signal,
      onRetry: ctx.progress,
    });
    body = checkEnvelope(res, tool.envelope, true);
    checkRefusal(tool, body, res);
  } catch (e) {
    throw await failed(app, op, entry, !!resent, e, started);
  }
  // The upstream said yes: whatever happens from here, this is a success.
  let out: Out;
  let readNote: string | undefined;
  try {
    // Bounded here (untrusted input), so the ledger keeps no more of the answer than the agent is shown.
    out = fromUpstream(app, tool.parse(body, op.args, res, toolContext(app, key)) as Out);
  } catch (e) {
    app.log.warn(`could not read ${tool.name}'s successful answer`, { error: String(e) });
    out = {};
    readNote = 'the API confirmed the call but its answer could not be read in full';
  }
  // The outcome and the audit record are in their files before the answer leaves; their
  // fsyncs (group commit) run behind it. Only the pending entry must be on disk first.
  const shaped = okResult(app, out, tool).structuredContent as Out;
  const { environment: _env, ...result } = shaped;
  await Promise.all([
    settle(app, { ...entry, status: 'succeeded', updated: Date.now(), result }),
    audit(app, op, { outcome: 'succeeded', status: res.status, started, key }),
  ]);
  const notes = [note, readNote, typeof result.note === 'string' ? result.note : undefined].filter(Boolean);
  return okResult(
    app,
    {
      ...result,
      ...(op.keySentUpstream ? { idempotency_key: key } : {}),
      ...(notes.length ? { note: notes.join('; ') } : {}),
    },
    tool,
  );
}

/** Records a money call that did not succeed, by the outcome rules, and says what to do next. */
async function failed(
  app: App,
  op: Operation,
  entry: LedgerEntry,
  resend: boolean,
  e: unknown,
  started: number,
): Promise<unknown> {
  const outcome = moneyOutcome(e, resend);
  const body = e instanceof ToolError ? e.body : undefined;
  // Not sent on a first attempt: the key never reached the API, so it stays usable.
  const status = outcome === 'unknown' || (outcome === 'not_sent' && resend) ? 'unknown' : 'failed';
  await Promise.all([
    settle(app, {
      ...entry,
      status,
      updated: Date.now(),
      error: body && ledgerError({ ...body, outcome: status === 'unknown' ? 'unknown' : outcome }),
    }),
    audit(app, op, { outcome: status, status: body?.http_status, code: body?.code, started, key: entry.key }),
  ]);
  if (!(e instanceof ToolError)) return e;
  if (status === 'unknown')
    return new ToolError({
      ...e.body,
      outcome: 'unknown',
      retryable: op.resendable,
      hint: op.resendable
        ? `The outcome is unknown: points may have been deducted. Repeat the identical call: the server re-sends it with the same external_reference_number (${entry.key}), which Capillary deduplicates. Do not change the points or pass a new key; other money calls for this customer are refused until this one is resolved.`
        : `The outcome is unknown: points may have moved. This call cannot be re-sent safely (the API has no key for it). Check get_points_balance; an operator settles the attempt (${entry.key}) with \`capillary-loyalty-mcp settle\`. Until then money calls for this customer are refused.`,
    });
  return new ToolError({
    ...e.body,
    outcome,
    hint:
      op.tool.hints?.[e.body.code] ??
      e.body.hint ??
      (outcome === 'not_sent' ? 'Nothing was sent.' : 'Nothing was spent. A repeat gets a fresh key.'),
  });
}

/** What the ledger keeps of an error: what decides a repeat, not the API's words. */
const ledgerError = ({ upstream_message: _, ...body }: ToolErrorBody): ToolErrorBody => body;

/** An outcome that cannot be written leaves the pending entry, which reads back as unknown. */
async function settle(app: App, e: LedgerEntry): Promise<void> {
  try {
    await app.store.settle(e);
  } catch (err) {
    app.log.error('ledger: could not record an outcome; the attempt reads back as unknown', {
      error: String(err),
    });
  }
}

/** Runs a ledger step; if the ledger cannot be read or written, nothing is sent. */
export async function ledger<T>(app: App, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof ToolError) throw e;
    app.log.error('ledger unavailable; refusing to send', { error: String(e) });
    throw new ToolError({
      code: 'ledger_unavailable',
      message: 'The idempotency ledger could not be read or written, so nothing was sent.',
      hint:
        app.config.ledger === 'postgres'
          ? 'The operator must check the PostgreSQL ledger (is the database up and reachable?). Retrying is safe.'
          : 'The operator must check CAPILLARY_DATA_DIR (disk space, permissions). Retrying is safe.',
      retryable: true,
      source: 'config',
      outcome: 'not_sent',
    });
  }
}
