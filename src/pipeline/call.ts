import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { App } from '../app.js';
import { checkEnvelope, type UpstreamRequest } from '../capillary/client.js';
import { ToolError, type ToolErrorBody, validationError } from '../errors.js';
import type { AuditRecord } from '../safety/audit.js';
import { fingerprint, mintKey } from '../safety/fingerprint.js';
import type { LedgerEntry } from '../safety/ledger.js';
import type { AnyTool, ToolContext } from '../toolkit/define.js';
import { pointsString } from '../toolkit/fields.js';

/** What the transport knows about the caller, for confirmation and progress. */
export interface CallContext {
  /** Asks the human; undefined when the client cannot elicit. */
  elicit?: (message: string, title: string) => Promise<'accept' | 'decline' | 'cancel'>;
  /** Reports progress while the server waits (retries). */
  progress?: (message: string) => void;
  signal?: AbortSignal;
}

type Out = Record<string, unknown>;

/**
 * The one choke point every tool call passes through: check arguments, apply the safety rules,
 * send one request, read the envelope, normalize, redact. Nothing here throws to the transport.
 */
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
    pinProgram(app, args);
    return tool.spend ? await spend(app, tool, args, ctx) : await plain(app, tool, args, ctx);
  } catch (e) {
    return errorResult(app, toErrorBody(app, e, tool));
  }
}

function toErrorBody(app: App, e: unknown, tool: AnyTool): ToolErrorBody {
  if (e instanceof ToolError) return e.body;
  // Never a stack trace to the model: log it (redacted) and say what is known.
  app.log.error(`internal error in ${tool.name}`, { error: e instanceof Error ? e.stack : String(e) });
  return {
    code: 'internal_error',
    message: 'The server failed while handling this call.',
    hint: tool.spend
      ? 'The outcome is unknown; repeat the identical call, which is safe.'
      : 'Retrying may work.',
    retryable: true,
    source: 'config',
    outcome: tool.spend ? 'unknown' : 'not_sent',
  };
}

/** Validates with the tool's strict zod schema; the first issues become one field-specific error. */
export function checkArgs(tool: AnyTool, raw: unknown): Record<string, any> {
  const r = tool.input.safeParse(raw);
  if (r.success) {
    // An unpaired surrogate cannot be URL- or UTF-8-encoded: refuse it here, naming the field,
    // rather than fail later while sending (which would read as a lost connection).
    const bad = illFormedAt(r.data);
    if (bad !== undefined)
      throw validationError(
        bad,
        'not valid Unicode text (unpaired surrogate)',
        codeForPath(tool, bad),
        FIX_HINT,
      );
    return r.data as Record<string, any>;
  }
  const issues = r.error.issues;
  const first = issues[0];
  // An unknown argument is the field at fault: name it.
  const field =
    first.code === 'unrecognized_keys'
      ? [issuePath(first), clip(first.keys[0] ?? '') || '""'].filter(Boolean).join('.')
      : issuePath(first);
  const code = (first as any).params?.code ?? codeFor(tool, first);
  const msgs = issues.slice(0, 3).map((i) => {
    const p = issuePath(i);
    return `${p ? `${p}: ` : ''}${issueMessage(tool, i)}`;
  });
  if (issues.length > 3) msgs.push(`(+${issues.length - 3} more)`);
  throw new ToolError({
    code,
    message: msgs.join('; '),
    hint: FIX_HINT,
    retryable: false,
    source: 'validation',
    outcome: 'not_sent',
    ...(field ? { field } : {}),
  });
}

const FIX_HINT = 'Fix the argument and call again; nothing was sent.';

/** Agent-chosen names (unknown keys, record keys) are echoed at most 64 characters long. */
const clip = (s: string) => {
  const cps = [...s];
  return cps.length > 64 ? `${cps.slice(0, 63).join('')}…` : s;
};
const issuePath = (i: z.core.$ZodIssue) => i.path.map((p) => clip(String(p))).join('.');

/** The vendor code for a field: "field:*", else its top-level field's, else invalid_argument. */
const codeForPath = (tool: AnyTool, path: string): string | number => {
  const codes = tool.codes ?? {};
  return codes[`${path}:*`] ?? codes[`${path.split('.')[0]}:*`] ?? 'invalid_argument';
};

/** As codeForPath, but a "field:issueCode" entry wins (a missing field is an invalid_type issue). */
const codeFor = (tool: AnyTool, i: z.core.$ZodIssue): string | number => {
  const path = issuePath(i);
  return tool.codes?.[`${path}:${i.code}`] ?? codeForPath(tool, path);
};

const SURROGATE = /\p{Surrogate}/u;
/** No unpaired UTF-16 surrogate (String.prototype.isWellFormed where the runtime has it). */
const wellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as string & { isWellFormed(): boolean }).isWellFormed()
    : (s) => !SURROGATE.test(s);

/** The path of the first string holding an unpaired UTF-16 surrogate, if any (checked data only). */
function illFormedAt(v: unknown): string | undefined {
  if (typeof v === 'string') return wellFormed(v) ? undefined : '(arguments)';
  const at = badKeys(v);
  return at && (at.reverse().map(clip).join('.') || '(arguments)');
}

/** The keys leading to the first ill-formed key or string, innermost first; built only when found. */
function badKeys(v: unknown): string[] | undefined {
  if (!v || typeof v !== 'object') return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (!wellFormed(k) || (typeof x === 'string' && !wellFormed(x))) return [k];
    const inner = typeof x === 'object' ? badKeys(x) : undefined;
    if (inner) {
      inner.push(k);
      return inner;
    }
  }
  return undefined;
}

function issueMessage(tool: AnyTool, i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') {
    const known = Object.keys(tool.input.shape);
    const named = i.keys.slice(0, 5).map((k) => {
      const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
      const near = known.find((n) => norm(n) === norm(k));
      return `unknown argument "${clip(k)}"${near ? ` (did you mean "${near}"?)` : ''}`;
    });
    if (i.keys.length > 5) named.push(`(+${i.keys.length - 5} more unknown)`);
    return named.join(', ');
  }
  // zod 4 issues do not carry the input: a missing value is the one that "received undefined".
  if (i.code === 'invalid_type' && /received undefined$/.test(i.message)) return 'required';
  return i.message;
}

function pinProgram(app: App, args: Record<string, any>): void {
  const pinned = app.config.programId;
  if (pinned && args.program_id !== undefined && args.program_id !== pinned)
    throw new ToolError({
      code: 'program_not_allowed',
      message: `program_id: this server is pinned to program ${pinned}; ${args.program_id} is refused.`,
      hint: `Omit program_id or pass ${pinned}.`,
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
      field: 'program_id',
    });
}

function toolContext(app: App, key?: string, embeddedAuth?: Record<string, string>): ToolContext {
  return { config: app.config, idempotencyKey: key, embeddedAuth };
}

function withProgram(app: App, tool: AnyTool, args: Record<string, any>): Record<string, any> {
  if (app.config.programId && 'program_id' in tool.input.shape && args.program_id === undefined)
    return { ...args, program_id: app.config.programId };
  return args;
}

async function buildRequest(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  key?: string,
): Promise<UpstreamRequest> {
  // A dry run makes no network call at all, not even for an OAuth token: the preview shows a
  // redacted placeholder where the embedded credentials go.
  const embedded = !tool.embedsAuth
    ? undefined
    : args.dry_run
      ? app.client.redactedAuthorizationHeader()
      : await app.client.authorizationHeader();
  return tool.request(withProgram(app, tool, args), toolContext(app, key, embedded));
}

/** Read, notify, update and unlock tools: no ledger, still checked, audited when they write. */
async function plain(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  ctx: CallContext,
): Promise<CallToolResult> {
  const started = Date.now();
  const req = await buildRequest(app, tool, args);
  const mutating = tool.effect !== 'read';
  if (args.dry_run) {
    // No note here: these tools' output schema has none, and a client checking it would reject the result.
    const out = { dry_run_request: app.client.preview(req) };
    if (mutating) await audit(app, tool, args, { outcome: 'dry_run', started });
    return okResult(app, tool, out);
  }
  try {
    const res = await app.client.send(req, { mutating, signal: ctx.signal, onRetry: ctx.progress });
    let out: Out;
    try {
      out = tool.parse(checkEnvelope(res, tool.envelope, mutating), args, res, toolContext(app)) as Out;
    } catch (e) {
      const answer =
        e instanceof ToolError && res.json !== undefined ? tool.readFailure?.(res.json, res) : undefined;
      if (!answer) throw e;
      out = answer as Out;
    }
    if (mutating) await audit(app, tool, args, { outcome: 'succeeded', status: res.status, started });
    return okResult(app, tool, out);
  } catch (e) {
    if (mutating && e instanceof ToolError)
      await audit(app, tool, args, {
        outcome: e.body.outcome === 'unknown' ? 'unknown' : 'failed',
        status: e.body.http_status,
        code: e.body.code,
        started,
      });
    throw e;
  }
}

/** Spend tools: idempotency from the ledger, caps, confirmation, one call per customer at a time. */
async function spend(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  ctx: CallContext,
): Promise<CallToolResult> {
  const spec = tool.spend!;
  const started = Date.now();
  const fp = fingerprint(tool.name, withProgram(app, tool, args));
  const customer = spec.customer(args);
  const points = spec.points(args);

  if (args.dry_run) {
    await checkCaps(app, customer, points);
    const prev = await app.store.latest(fp);
    const key = spec.key(args) ?? (prev && reusable(prev) ? prev.key : '<minted when sent>');
    const req = await buildRequest(app, tool, args, key);
    await audit(app, tool, args, { outcome: 'dry_run', started, key });
    return okResult(app, tool, {
      dry_run_request: app.client.preview(req),
      ...(spec.keySentUpstream ? { idempotency_key: key } : {}),
      note: 'dry run: nothing was sent',
    });
  }

  // Identical calls already in flight in this process share its single upstream request.
  const running = app.inflight.get(fp);
  if (running) {
    const r = (await running) as CallToolResult;
    return r.isError
      ? r
      : markReplayed(app, tool, r, 'identical call was in flight; its result is shared, nothing sent twice');
  }
  const job = (async () => {
    try {
      return await spendOnce(app, tool, args, ctx, fp, customer, points, started);
    } catch (e) {
      return errorResult(app, toErrorBody(app, e, tool));
    }
  })();
  app.inflight.set(fp, job);
  try {
    return await job;
  } finally {
    app.inflight.delete(fp);
  }
}

/** A recorded attempt may be re-sent with its key when its outcome is unknown (or pending elsewhere). */
const reusable = (e: LedgerEntry) => e.status === 'unknown' || e.status === 'pending';

async function spendOnce(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  ctx: CallContext,
  fp: string,
  customer: string,
  points: number,
  started: number,
): Promise<CallToolResult> {
  const spec = tool.spend!;
  const now = Date.now();
  const prev = await ledger(app, async () => {
    await app.store.refresh();
    return app.store.latest(fp);
  });
  const inWindow = prev && now - prev.at <= app.config.idempotencyWindowMs;
  if (prev && inWindow && prev.status === 'succeeded' && prev.result) {
    await audit(app, tool, args, { outcome: 'replayed', started, key: prev.key });
    return markReplayed(
      app,
      tool,
      okResult(app, tool, { ...prev.result, ...(spec.keySentUpstream ? { idempotency_key: prev.key } : {}) }),
      `identical call succeeded at ${new Date(prev.at).toISOString()}; replayed, nothing sent`,
    );
  }
  const agentKey: string | undefined = spec.key(args);
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
  if (prev && inWindow && reusable(prev) && !spec.keySentUpstream && !agentKey)
    throw safetyError(
      'outcome_unknown',
      `An identical ${tool.name} call at ${new Date(prev.at).toISOString()} has an unknown outcome, and this API cannot deduplicate a re-send.`,
      'Check get_points_balance first. If it did not happen, call again with points set explicitly to what is still to be done (a different call), or ask an operator.',
    );
  const key = agentKey ?? (prev && inWindow && reusable(prev) ? prev.key : mintKey(spec.keyPrefix));
  // This call re-sends an attempt whose outcome is unknown: same key, same ledger entry.
  const resent = prev && reusable(prev) && prev.key === key ? prev : undefined;
  const note =
    resent && inWindow
      ? `an earlier identical call had an unknown outcome; re-sent with the same external_reference_number ${key}, which Capillary deduplicates`
      : undefined;
  // The entry being re-sent is replaced, so its points must not count twice against the caps.
  const counted = resent?.points ?? 0;

  await checkCaps(app, customer, points, counted);
  await confirm(app, tool, args, ctx);

  return app.locks.run(customer, async () => {
    // Caps again under the customer's lock: a concurrent call may have spent meanwhile.
    await checkCaps(app, customer, points, counted);
    const req = await buildRequest(app, tool, args, key);
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
    // Durable before anything is sent: a crash after this line reads back as unknown.
    await ledger(app, () => app.store.put(entry));
    try {
      const res = await app.client.send(req, { mutating: true, signal: ctx.signal, onRetry: ctx.progress });
      const body = checkEnvelope(res, tool.envelope, true);
      const out = app.redactor.value(tool.parse(body, args, res, toolContext(app, key)) as Out);
      // The outcome and the audit record are in their files before the answer leaves; their
      // fsyncs (group commit) run behind it. Only the pending entry above must be on disk first.
      await Promise.all([
        app.store.settle({ ...entry, status: 'succeeded', updated: Date.now(), result: out }),
        audit(app, tool, args, { outcome: 'succeeded', status: res.status, started, key }),
      ]);
      return okResult(app, tool, {
        ...out,
        ...(spec.keySentUpstream ? { idempotency_key: key } : {}),
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
        app.store.settle({ ...entry, status, updated: Date.now(), error: body && app.redactor.value(body) }),
        audit(app, tool, args, {
          outcome: status,
          status: body?.http_status,
          code: body?.code,
          started,
          key,
        }),
      ]);
      if (e instanceof ToolError && status === 'unknown')
        throw new ToolError({
          ...e.body,
          outcome: 'unknown',
          retryable: true,
          hint: spec.keySentUpstream
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

const safetyError = (code: string, message: string, hint: string) =>
  new ToolError({ code, message, hint, retryable: false, source: 'safety', outcome: 'not_sent' });

async function checkCaps(app: App, customer: string, points: number, alreadyCounted = 0): Promise<void> {
  const { maxPointsPerRedemption: perCall, maxPointsPerCustomerPerDay: perDay } = app.config;
  if (points <= 0) return;
  if (perCall !== undefined && points > perCall)
    throw new ToolError({
      code: 'cap_per_redemption',
      message: `points: ${pointsString(points)} exceeds the cap of ${pointsString(perCall)} points per redemption (CAPILLARY_MAX_POINTS_PER_REDEMPTION).`,
      hint: `Redeem at most ${pointsString(perCall)} points in one call, or ask an operator.`,
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
      field: 'points',
    });
  if (perDay !== undefined) {
    const spent = (await app.store.spentSince(customer, Date.now() - 86_400_000)) - alreadyCounted;
    const left = Math.max(0, Math.round((perDay - spent) * 1000) / 1000);
    if (points > left)
      throw new ToolError({
        code: 'cap_per_customer_per_day',
        message: `points: ${pointsString(points)} exceeds what is left of this customer's cap of ${pointsString(perDay)} points per 24 h (CAPILLARY_MAX_POINTS_PER_CUSTOMER_PER_DAY): ${pointsString(left)} left.`,
        hint:
          left > 0
            ? `At most ${pointsString(left)} points can be redeemed for this customer now.`
            : 'No more redemptions for this customer until the 24 h window moves on.',
        retryable: false,
        source: 'safety',
        outcome: 'not_sent',
        field: 'points',
      });
  }
}

async function confirm(app: App, tool: AnyTool, args: Record<string, any>, ctx: CallContext): Promise<void> {
  const threshold = app.config.confirmAbovePoints;
  const spec = tool.spend!;
  const shown = spec.confirmPoints ? spec.confirmPoints(args) : spec.points(args);
  if (threshold === undefined || shown === undefined || shown <= threshold) return;
  if (!ctx.elicit)
    throw new ToolError({
      code: 'confirmation_unavailable',
      message: `This call moves ${pointsString(shown)} points, above the confirmation threshold of ${pointsString(threshold)}, and this client cannot ask a human (no elicitation support).`,
      hint: 'Use a client that supports MCP elicitation, or ask an operator; nothing was sent.',
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
    });
  let answer: 'accept' | 'decline' | 'cancel';
  try {
    answer = await ctx.elicit(
      `${spec.describe(args)} This is above the ${pointsString(threshold)}-point confirmation threshold. Proceed?`,
      `Confirm: ${tool.title}`,
    );
  } catch (e) {
    // The question timed out, or the client went away or answered something unreadable.
    app.log.warn('confirmation failed', { tool: tool.name, error: String(e) });
    throw new ToolError({
      code: 'confirmation_failed',
      message:
        'The confirmation could not be completed (no usable answer from the client); nothing was sent.',
      hint: 'Ask the human again, or ask an operator.',
      retryable: true,
      source: 'safety',
      outcome: 'not_sent',
    });
  }
  if (answer !== 'accept')
    throw new ToolError({
      code: answer === 'decline' ? 'confirmation_declined' : 'confirmation_cancelled',
      message: `The human ${answer === 'decline' ? 'declined' : 'cancelled'} the confirmation; nothing was sent.`,
      hint: 'Do not retry unless the human asks for it.',
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
    });
}

async function audit(
  app: App,
  tool: AnyTool,
  args: Record<string, any>,
  r: {
    outcome: AuditRecord['outcome'];
    started: number;
    status?: number;
    code?: string | number;
    key?: string;
  },
): Promise<void> {
  try {
    await app.audit.write({
      time: new Date().toISOString(),
      tool: tool.name,
      arguments: app.redactor.value(args),
      ...(r.key ? { idempotency_key: r.key } : {}),
      outcome: r.outcome,
      ...(r.status !== undefined ? { upstream_status: r.status } : {}),
      ...(r.code !== undefined ? { code: r.code } : {}),
      duration_ms: Date.now() - r.started,
      environment: app.config.environment,
    });
  } catch (e) {
    app.log.error('audit log write failed', { error: String(e) });
  }
}

function okResult(app: App, _tool: AnyTool, out: Out): CallToolResult {
  const structured = app.redactor.value({ environment: app.config.environment, ...out });
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

function markReplayed(app: App, tool: AnyTool, r: CallToolResult, note: string): CallToolResult {
  const sc = { ...(r.structuredContent as Out), replayed: true, note };
  return okResult(app, tool, sc);
}

export function errorResult(app: App, error: ToolErrorBody): CallToolResult {
  const structured = app.redactor.value({ environment: app.config.environment, error });
  return {
    content: [{ type: 'text', text: JSON.stringify(structured) }],
    structuredContent: structured,
    isError: true,
  };
}
