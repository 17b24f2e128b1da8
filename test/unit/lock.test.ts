import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../src/safety/lock.js';

describe('keyed lock', () => {
  it('runs one task per key at a time, different keys in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (k: string, id: string, ms: number) =>
      lock.run(k, async () => {
        log.push(`start ${id}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${id}`);
      });
    await Promise.all([task('a', 'a1', 30), task('a', 'a2', 1), task('b', 'b1', 1)]);
    expect(log.indexOf('end a1')).toBeLessThan(log.indexOf('start a2'));
    expect(log.indexOf('end b1')).toBeLessThan(log.indexOf('end a1'));
  });
});
