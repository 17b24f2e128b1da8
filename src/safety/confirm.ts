// Confirmation: a human's yes above the operator's threshold, asked through the client.
import { ToolError } from '../errors.js';
import type { Logger } from '../log.js';
import { pointsString } from '../toolkit/fields.js';

export type Answer = 'accept' | 'decline' | 'cancel';
/** Asks the human; undefined when the client cannot ask. */
export type Ask = ((message: string, title: string) => Promise<Answer>) | undefined;

export interface Confirmation {
  /** Points shown to the human. */
  points: number | undefined;
  /** One line: what will happen. */
  describe: string;
  title: string;
  tool: string;
}

/** Resolves when the call may go ahead; throws a `not_sent` refusal otherwise. */
export async function confirm(
  threshold: number | undefined,
  ask: Ask,
  c: Confirmation,
  log: Logger,
): Promise<void> {
  const shown = c.points;
  if (threshold === undefined || shown === undefined || shown <= threshold) return;
  if (!ask)
    throw new ToolError({
      code: 'confirmation_unavailable',
      message: `This call moves ${pointsString(shown)} points, above the confirmation threshold of ${pointsString(threshold)}, and this client cannot ask a human (no elicitation support).`,
      hint: 'Use a client that supports MCP elicitation, or ask an operator; nothing was sent.',
      retryable: false,
      source: 'safety',
      outcome: 'not_sent',
    });
  let answer: Answer;
  try {
    answer = await ask(
      `${c.describe} This is above the ${pointsString(threshold)}-point confirmation threshold. Proceed?`,
      `Confirm: ${c.title}`,
    );
  } catch (e) {
    // The question timed out, or the client went away or answered something unreadable.
    log.warn('confirmation failed', { tool: c.tool, error: String(e) });
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
