import type { Started } from '../main.js';

/** Placeholder until the Streamable HTTP transport lands. */
export async function runHttp(_argv: string[], _start: () => Promise<Started>): Promise<void> {
  throw new Error('--http is not available yet');
}
