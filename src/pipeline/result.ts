// The last stop: every result leaves through okResult or errorResult, redacted. What the API
// answered is bounded first (fromUpstream, and the error's upstream_message here).
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { z } from 'zod';
import type { Config } from '../config.js';
import { ToolError, type ToolErrorBody } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redactor } from '../safety/redact.js';
import { bound, clipString } from '../safety/untrusted.js';
import type { AnyTool } from '../toolkit/define.js';
import { fullOutput } from '../toolkit/listing.js';

export type Out = Record<string, unknown>;

/** What shaping a result needs: the redactor, the environment label and the bounds on API data. */
export interface ResultShaper {
  redactor: Redactor;
  config: Pick<Config, 'environment' | 'maxStringChars' | 'maxArrayItems'>;
}

/**
 * A tool's reading of an API answer, bounded as untrusted input: long strings and arrays are
 * cut, each cut named in `truncated`.
 */
export function fromUpstream(app: ResultShaper, out: Out): Out {
  const { value, cut } = bound(out, app.config);
  return cut.length ? { ...value, truncated: cut } : value;
}

/** An error body with the API's words bounded; everything else in it is the server's own. */
export function boundedError(app: ResultShaper, e: ToolErrorBody): ToolErrorBody {
  return e.upstream_message === undefined
    ? e
    : { ...e, upstream_message: clipString(e.upstream_message, app.config.maxStringChars) };
}

export function okResult(app: ResultShaper, out: Out, tool?: AnyTool): CallToolResult {
  let structured: Out = app.redactor.value({ environment: app.config.environment, ...out });
  if (tool) structured = conform(tool, structured);
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

export function markReplayed(
  app: ResultShaper,
  r: CallToolResult,
  note: string,
  tool?: AnyTool,
): CallToolResult {
  return okResult(app, { ...(r.structuredContent as Out), replayed: true, note }, tool);
}

const listedSchemas = new WeakMap<AnyTool, z.ZodType>();
/** The output schema as clients check it: every field optional but environment, nothing extra. */
const listedSchema = (t: AnyTool): z.ZodType => {
  let s = listedSchemas.get(t);
  if (!s) {
    s = fullOutput(t).partial().required({ environment: true }).strict();
    listedSchemas.set(t, s);
  }
  return s;
};

/**
 * A result is checked against the tool's own listed output schema before it leaves: an upstream
 * value of an unexpected type is dropped, with a note naming it, so a client that checks the
 * schema never turns a result (a redemption that happened) into a protocol error.
 */
export function conform(tool: AnyTool, structured: Out): Out {
  const schema = listedSchema(tool);
  const first = schema.safeParse(structured);
  if (first.success) return structured;
  const bad = new Set(
    first.error.issues.map((i) => String(i.path[0] ?? '')).filter((k) => k && k !== 'environment'),
  );
  const kept: Out = {};
  for (const [k, v] of Object.entries(structured)) if (!bad.has(k)) kept[k] = v;
  const dropped = `upstream value(s) of an unexpected type dropped: ${[...bad].join(', ')}`;
  const canNote = 'note' in (fullOutput(tool).shape as object);
  if (canNote) kept.note = typeof kept.note === 'string' ? `${kept.note}; ${dropped}` : dropped;
  return schema.safeParse(kept).success ? kept : { environment: structured.environment };
}

export function errorResult(app: ResultShaper, error: ToolErrorBody): CallToolResult {
  const structured = app.redactor.value({
    environment: app.config.environment,
    error: boundedError(app, error),
  });
  return {
    content: [{ type: 'text', text: JSON.stringify(structured) }],
    structuredContent: structured,
    isError: true,
  };
}

/** Any failure as the one error shape. Never a stack trace to the model: it is logged, redacted. */
export function toErrorBody(log: Logger, e: unknown, tool: AnyTool): ToolErrorBody {
  if (e instanceof ToolError) return e.body;
  log.error(`internal error in ${tool.name}`, { error: e instanceof Error ? e.stack : String(e) });
  const spends = tool.effect === 'spend';
  return {
    code: 'internal_error',
    message: 'The server failed while handling this call.',
    hint: spends ? 'The outcome is unknown; repeat the identical call, which is safe.' : 'Retrying may work.',
    retryable: true,
    source: 'config',
    outcome: spends ? 'unknown' : 'not_sent',
  };
}
