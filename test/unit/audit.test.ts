import { describe, expect, it } from 'vitest';
import { ToolError } from '../../src/errors.js';
import { recordAttempt, recordAudit } from '../../src/safety/audit.js';

describe('audit attempts fail closed', () => {
  const sink = (fail: (until: string) => boolean) => {
    const calls: string[] = [];
    const errors: string[] = [];
    return {
      calls,
      errors,
      sink: {
        environment: 'live' as const,
        log: { error: (m: string) => errors.push(m) },
        audit: {
          write: async (r: { outcome: string }, until: string = 'written') => {
            calls.push(`${r.outcome}:${until}`);
            if (fail(until)) throw new Error('EIO');
          },
        },
      },
    };
  };

  it('an attempt waits for the disk; if it cannot be written the call is refused as not sent', async () => {
    const ok = sink(() => false);
    await recordAttempt(ok.sink as any, { tool: 'redeem_points', args: {}, started: Date.now(), key: 'k' });
    expect(ok.calls).toEqual(['attempt:synced']);

    const broken = sink((until) => until === 'synced');
    const e = await recordAttempt(broken.sink as any, { tool: 'redeem_points', args: {}, started: 0 }).catch(
      (x) => x,
    );
    expect(e).toBeInstanceOf(ToolError);
    expect((e as ToolError).body).toMatchObject({ code: 'audit_unavailable', outcome: 'not_sent' });
    expect(broken.errors).toEqual(['audit log unavailable; refusing to send']);
  });

  it('an outcome record that cannot be written is logged, not thrown (the call already happened)', async () => {
    const broken = sink(() => true);
    await recordAudit(broken.sink as any, { tool: 't', args: {}, started: 0, outcome: 'succeeded' });
    expect(broken.calls).toEqual(['succeeded:written']);
    expect(broken.errors).toEqual(['audit log write failed']);
  });
});
