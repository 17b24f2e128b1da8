import { describe, expect, it } from 'vitest';
import { canonical, fingerprint } from '../../src/safety/fingerprint.js';

describe('fingerprint', () => {
  it('canonical JSON ignores key order; the fingerprint ignores dry_run', () => {
    expect(canonical({ b: 1, a: { d: [1, 2], c: 'x' } })).toBe(canonical({ a: { c: 'x', d: [1, 2] }, b: 1 }));
    expect(fingerprint('t', { a: 1, dry_run: true })).toBe(fingerprint('t', { a: 1 }));
    expect(fingerprint('t', { a: 1 })).not.toBe(fingerprint('u', { a: 1 }));
  });
  it('fingerprints stay what ledgers already on disk recorded', () => {
    const args = {
      points: 12.5,
      customer: { mobile: '919000000001', external_id: undefined },
      notes: ['a', null, 'é'],
      external_reference_number: 'k-1',
      dry_run: true,
    };
    expect(canonical({ ...args, dry_run: undefined })).toBe(
      '{"customer":{"mobile":"919000000001"},"external_reference_number":"k-1","notes":["a",null,"é"],"points":12.5}',
    );
    expect(fingerprint('redeem_points', args)).toBe(
      'c58dc802c0c0b4168129da0f9cf6f48b95a9d31f1e66c3ecd8da982ef759e53b',
    );
  });
});
