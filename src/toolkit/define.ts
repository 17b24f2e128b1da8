import type { z } from 'zod';
import type { UpstreamRequest, UpstreamResponse } from '../capillary/types.js';
import type { Config } from '../config.js';
import type { Customer, Group } from './fields.js';

/**
 * What a tool does to the world. The MCP annotations are derived from this in one place
 * (below), so no tool can claim to be read-only and still move points.
 */
export type Effect =
  /** Reads only. */
  | 'read'
  /** Sends the customer a message; repeating inside the validity window changes nothing more. */
  | 'notify'
  /** Overwrites metadata of an existing record; the same update twice leaves the same state. */
  | 'update'
  /** Converts promised points; a repeat finds nothing left to unlock and changes nothing. */
  | 'unlock'
  /** Spends or moves points: a repeat with a new key spends again. */
  | 'spend';

export interface Annotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

const ANNOTATIONS: Record<Effect, Annotations> = {
  read: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  notify: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  update: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  unlock: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  spend: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
};

export const annotationsFor = (effect: Effect): Annotations => ANNOTATIONS[effect];

/** The configuration a tool may read while it builds its request: never the credentials. */
export type ToolConfig = Pick<Config, 'environment' | 'baseUrl' | 'workflowBaseUrl' | 'clientSignature'>;

/** What the server knows while a tool builds its request. */
export interface ToolContext {
  config: ToolConfig;
  /** The idempotency key the server chose (spend tools only). */
  idempotencyKey?: string;
  /** Authorization headers to embed (request workflow only). */
  embeddedAuth?: Record<string, string>;
}

/** How a spend tool exposes what the safety layer needs: whose points, how many, which key. */
export interface SpendSpec<I> {
  /** Whose points: the customer the call names, and the group whose pool it draws from, if any.
   * The pipeline resolves them to one identity (src/pipeline/identity.ts). */
  whose(args: I): { customer: Customer; group?: Group };
  /**
   * What the call moves, beyond whose points (the customer) and which key: the fields that
   * make it a different operation (points, program, group; a reversal's redemption). Notes,
   * transaction numbers, extra identifiers and defaults written out do not: a repeat that
   * differs only in those is the same operation.
   */
  meaning(args: I): Record<string, unknown>;
  /** Points this call spends (counted against caps); 0 for reversals, which restore points. */
  points(args: I): number;
  /** Points this call moves for the customer, counted against the confirmation budget and shown
   * to a human (defaults to points()); "all" when the amount is not known in advance. */
  moved?(args: I): number | 'all';
  /**
   * The tools that move points the same way form a family for the allow- and deny-lists:
   * excluding one member excludes every member not named in the allow-list, so that excluding
   * `redeem_points` does not leave `request_points_redemption` able to move the same points.
   */
  family: 'redeem' | 'reverse';
  /** One line for the human: what will happen. */
  describe(args: I): string;
  /** The agent's own external_reference_number, if it gave one. */
  key(args: I): string | undefined;
  /** Prefix of minted keys. */
  keyPrefix: string;
  /**
   * Whether a repeat after an unknown outcome may be re-sent: true when the key travels to the
   * API, which deduplicates it. Without that, the repeat is refused until the agent has checked.
   */
  keySentUpstream: boolean;
  /**
   * Whether sending this very request again is a no-op upstream (the API deduplicates it by its
   * key): only then is it re-sent, by the client (a 429/503 with Retry-After, a 521) or after an
   * unknown outcome. Defaults to keySentUpstream; false for the maker-checker request, whose key
   * dedupes the redemption it runs when approved, not the filing (a re-send files a second one).
   */
  resendable?: boolean;
}

interface ToolBase<I extends z.ZodObject, O extends z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  /** Which envelope the response uses. */
  envelope: 'v1.1' | 'v2';
  /** Hints for vendor codes whose general hint (errors.ts) would mislead for this tool. */
  hints?: Record<string, string>;
  /**
   * What to do after an unknown outcome, for a tool that writes but moves no points (money tools
   * get theirs from the ledger's rules: re-send with the same key, or check first).
   */
  unknownHint?: string;
  /** Vendor error codes for local checks, keyed "field:zodIssueCode", "field:missing" or "field:*". */
  codes?: Record<string, string | number>;
  /**
   * The request carries our own credentials inside its body (the maker-checker payload), for a
   * call that runs when a checker approves it, maybe hours later: only a credential that lasts
   * (Basic) can be embedded. Under OAuth the call is refused before anything is sent.
   */
  embedsAuth?: boolean;
  /**
   * The call goes to the request workflow (maker-checker), which needs the org id and an InTouch
   * user token (X-CAP-API-AUTH-ORG-ID, X-CAP-UI-AUTH-TOKEN): without them it is refused before
   * anything is sent.
   */
  workflow?: boolean;
  /**
   * A success envelope whose content says the request was refused (the workflow's validation
   * outputs): its code, message and hint, or undefined when it is a success.
   */
  refusal?(body: any): { code: string; message: string; hint: string } | undefined;
  /**
   * The customer this call sends a message to (a validation code). Such calls are counted per
   * customer in the ledger and limited (CAPILLARY_MAX_CODES_PER_CUSTOMER_PER_HOUR).
   */
  messages?(args: z.infer<I>): Customer;
  /** The one HTTP call, built from checked arguments. Throws ToolError for checks zod cannot express. */
  request(args: z.infer<I>, ctx: ToolContext): UpstreamRequest;
  /** Normalizes a successful response (envelope already checked) into the output shape. */
  parse(body: any, args: z.infer<I>, res: UpstreamResponse, ctx: ToolContext): z.infer<O>;
  /**
   * For answers whose "failure" envelope is itself the answer (e.g. "not redeemable"): returns
   * the result, or undefined to report the failure as an error.
   */
  readFailure?(body: any, res: UpstreamResponse): z.infer<O> | undefined;
}

/** A tool that moves no points: no ledger, no caps. */
export interface PlainToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject>
  extends ToolBase<I, O> {
  effect: Exclude<Effect, 'spend'>;
  spend?: undefined;
}

/** A tool that moves points: it cannot exist without the spend spec the safety layer reads. */
export interface SpendToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject>
  extends ToolBase<I, O> {
  effect: 'spend';
  spend: SpendSpec<z.infer<I>>;
}

/** A tool, as a union on its effect. */
export type ToolDef<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> =
  | PlainToolDef<I, O>
  | SpendToolDef<I, O>;

export const defineTool = <I extends z.ZodObject, O extends z.ZodObject>(def: ToolDef<I, O>): ToolDef<I, O> =>
  def;

export type AnyTool = ToolDef<z.ZodObject, z.ZodObject>;
export type AnySpendTool = SpendToolDef<z.ZodObject, z.ZodObject>;
export const isSpendTool = (t: AnyTool): t is AnySpendTool => t.effect === 'spend';
