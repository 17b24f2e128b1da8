// Argument checking: the first stop after a tool is looked up. Nothing is sent for a bad argument.
import type { z } from 'zod';
import { ToolError, validationError } from '../errors.js';
import type { AnyTool } from '../toolkit/define.js';

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
  const code = (first as any).params?.code ?? codeFor(tool, first, raw);
  const msgs = issues.slice(0, 3).map((i) => {
    const p = issuePath(i);
    return `${p ? `${p}: ` : ''}${isMissing(raw, i) ? 'required' : issueMessage(tool, i)}`;
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
export const clip = (s: string) => {
  const cps = [...s];
  return cps.length > 64 ? `${cps.slice(0, 63).join('')}…` : s;
};
const issuePath = (i: z.core.$ZodIssue) => i.path.map((p) => clip(String(p))).join('.');

/** The vendor code for a field: "field:*", else its top-level field's, else invalid_argument. */
const codeForPath = (tool: AnyTool, path: string): string | number => {
  const codes = tool.codes ?? {};
  return codes[`${path}:*`] ?? codes[`${path.split('.')[0]}:*`] ?? 'invalid_argument';
};

/**
 * As codeForPath, but a "field:missing" entry wins for a field that was not given, and a
 * "field:issueCode" entry for any other issue of that kind.
 */
const codeFor = (tool: AnyTool, i: z.core.$ZodIssue, raw: unknown): string | number => {
  const path = issuePath(i);
  const codes = tool.codes ?? {};
  return (
    (isMissing(raw, i) ? codes[`${path}:missing`] : undefined) ??
    codes[`${path}:${i.code}`] ??
    codeForPath(tool, path)
  );
};

/** Whether the issue is about a value the arguments do not have at all. */
function isMissing(raw: unknown, i: z.core.$ZodIssue): boolean {
  if (i.code === 'unrecognized_keys' || !i.path.length) return false;
  let v: unknown = raw;
  for (const k of i.path) {
    if (!v || typeof v !== 'object') return false;
    v = (v as Record<PropertyKey, unknown>)[k as PropertyKey];
  }
  return v === undefined;
}

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

/** A server pinned to one program refuses another; an omitted program_id is filled in. */
export function pinProgram(
  tool: AnyTool,
  args: Record<string, any>,
  pinned: string | undefined,
): Record<string, any> {
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
  if (pinned && 'program_id' in tool.input.shape && args.program_id === undefined)
    return { ...args, program_id: pinned };
  return args;
}

/**
 * `skip_validation: true` skips the customer's own consent (the code they receive): a money
 * call that sets it is refused before anything is sent, unless the operator allows it
 * (CAPILLARY_ALLOW_SKIP_VALIDATION). Dry runs too, so that they show what a send would do.
 */
export function checkSkipValidation(tool: AnyTool, args: Record<string, any>, allowed: boolean): void {
  if (allowed || tool.effect !== 'spend' || args.skip_validation !== true) return;
  throw new ToolError({
    code: 'skip_validation_not_allowed',
    message:
      "skip_validation: true is not allowed on this server: the customer's own validation (the code they receive) is required (CAPILLARY_ALLOW_SKIP_VALIDATION is off); nothing was sent.",
    hint: 'Omit skip_validation. If the customer needs a code, call issue_redemption_code and ask them for it.',
    retryable: false,
    source: 'safety',
    outcome: 'not_sent',
    field: 'skip_validation',
  });
}
