import { describe, expect, it } from 'vitest';
import { bound, MAX_DEPTH } from '../../src/safety/untrusted.js';

describe('bound (untrusted input)', () => {
  const limits = { maxStringChars: 10, maxArrayItems: 5 };

  it('cuts long strings with a marker and arrays to their first items, naming each cut; keeps every key', () => {
    const input = {
      id: 'short',
      message: 'x'.repeat(25),
      rows: [1, 2, 3, 4, 5, 6, 7],
      map: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 },
      nested: { list: ['0123456789abc'] },
    };
    const before = JSON.stringify(input);
    const { value, cut } = bound(input, limits);
    expect(value).toEqual({
      id: 'short',
      message: `${'x'.repeat(10)}… [cut: 15 more characters]`,
      rows: [1, 2, 3, 4, 5],
      map: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 },
      nested: { list: ['0123456789… [cut: 3 more characters]'] },
    });
    expect(cut).toEqual([
      'message: 15 of 25 characters cut',
      'rows: 2 of 7 items cut',
      'nested.list[0]: 3 of 13 characters cut',
    ]);
    expect(JSON.stringify(input)).toBe(before); // pure
  });

  it('never splits a surrogate pair; too deep becomes a marker; at most ten cuts are named', () => {
    expect(bound('123456789😀xyz', limits).value).toBe('123456789… [cut: 5 more characters]');
    let deep: unknown = 'bottom';
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    expect(JSON.stringify(bound(deep, limits).value)).toContain('[cut: nested too deep]');
    const many = bound(
      Array.from({ length: 3 }, () => ({
        a: 'x'.repeat(20),
        b: 'y'.repeat(20),
        c: 'z'.repeat(20),
        d: 'w'.repeat(20),
      })),
      limits,
    );
    expect(many.cut).toHaveLength(11);
    expect(many.cut.at(-1)).toBe('(2 more cuts)');
  });

  it('leaves data within the limits as it is, and says nothing', () => {
    const v = { a: 'abc', b: [1, 2], c: null, d: true, e: 1.5 };
    expect(bound(v, limits)).toEqual({ value: v, cut: [] });
  });
});
