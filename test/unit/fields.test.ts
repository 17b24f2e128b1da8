import { describe, expect, it } from 'vitest';
import { pointsSchema, pointsString } from '../../src/toolkit/fields.js';

describe('points fields', () => {
  it('writes points as decimal strings without float noise', () => {
    expect(pointsString(10.125)).toBe('10.125');
    expect(pointsString(0.1 + 0.2)).toBe('0.3');
    expect(pointsString(1.5)).toBe('1.5');
    expect(pointsString(100)).toBe('100');
    expect(pointsString(0.001)).toBe('0.001');
  });
  it('points: > 0 and at most 3 decimals', () => {
    for (const ok of [0.001, 1, 10.125, 999999.999]) expect(pointsSchema.safeParse(ok).success).toBe(true);
    for (const bad of [0, -1, 0.0005, 1e-7, 1.1115, Number.NaN, Number.POSITIVE_INFINITY, '1,5', '10'])
      expect(pointsSchema.safeParse(bad).success).toBe(false);
  });
});
