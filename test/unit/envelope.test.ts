import { describe, expect, it } from 'vitest';
import { checkEnvelope } from '../../src/capillary/envelope.js';

describe('envelopes', () => {
  const res = (status: number, json: unknown, text = JSON.stringify(json)) => ({
    status,
    headers: new Headers(),
    text,
    json,
  });
  it('v1.1: success "false" on a 200 is a failure with the item code', () => {
    expect(() =>
      checkEnvelope(
        res(200, {
          response: {
            status: { success: 'false', code: 500 },
            responses: { points: { item_status: { success: 'false', code: 816, message: 'nf' } } },
          },
        }),
        'v1.1',
        true,
      ),
    ).toThrow('nf');
  });
  it('v2: a non-empty errors array on a 200 is a failure', () => {
    expect(() =>
      checkEnvelope(res(200, { errors: [{ code: 748, message: 'No metadata' }] }), 'v2', true),
    ).toThrow('No metadata');
  });
  it('a 2xx without a body on a mutating call has an unknown outcome', () => {
    try {
      checkEnvelope(res(200, undefined, ''), 'v1.1', true);
      expect.unreachable();
    } catch (e: any) {
      expect(e.body).toMatchObject({ code: 'malformed_response', outcome: 'unknown' });
    }
  });
});
