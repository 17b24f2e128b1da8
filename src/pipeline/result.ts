// The last stop: every result leaves through okResult or errorResult, redacted. What the API
// answered is bounded first (fromUpstream, and the error's upstream_message here).
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../config.js';
import { ToolError, type ToolErrorBody } from '../errors.js';
import type { Logger } from '../log.js';
import type { Redactor } from '../safety/redact.js';
import { bound, clipString } from '../safety/untrusted.js';
import type { AnyTool } from '../toolkit/define.js';

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

export function okResult(app: ResultShaper, out: Out): CallToolResult {
  const structured = app.redactor.value({ environment: app.config.environment, ...out });
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

export function markReplayed(app: ResultShaper, r: CallToolResult, note: string): CallToolResult {
  return okResult(app, { ...(r.structuredContent as Out), replayed: true, note });
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
