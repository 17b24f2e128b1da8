import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DurableAppender } from '../../src/safety/appender.js';
import { tempDir } from '../fixtures/cli.js';

describe('durable appender', () => {
  /** An fsync the test releases by hand, counting calls. */
  function manualSync() {
    const calls: Array<() => void> = [];
    const fails: Array<(e: Error) => void> = [];
    const fsync = () =>
      new Promise<void>((resolve, reject) => {
        calls.push(resolve);
        fails.push(reject);
      });
    return { fsync, calls, fails };
  }
  const tick = () => new Promise((r) => setImmediate(r));
  const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);

  it('"synced" waits for an fsync that started after its line was written; "written" does not', async () => {
    const path = join(tempDir(), 'a.jsonl');
    const s = manualSync();
    const a = new DurableAppender(path, s.fsync);
    let firstDone = false;
    const first = a.append('one').then(() => {
      firstDone = true;
    });
    await tick();
    expect(s.calls.length).toBe(1);
    expect(firstDone).toBe(false);
    // Written while the first fsync runs: in the file at once, but that fsync does not cover it.
    let secondDone = false;
    const second = a.append('two').then(() => {
      secondDone = true;
    });
    await a.append('three', 'written');
    expect(lines(path)).toEqual(['one', 'two', 'three']);
    s.calls[0]();
    await first;
    await tick();
    expect(secondDone).toBe(false);
    expect(s.calls.length).toBe(2);
    s.calls[1]();
    await second;
    const closing = a.close();
    await tick();
    expect(s.calls.length).toBe(2); // nothing left unsynced
    await closing;
  });

  it('a "written" line gets its own fsync soon, and close() waits for it', async () => {
    const path = join(tempDir(), 'b.jsonl');
    const s = manualSync();
    const a = new DurableAppender(path, s.fsync);
    await a.append('only', 'written');
    expect(s.calls.length).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.calls.length).toBe(1);
    let closed = false;
    const closing = a.close().then(() => {
      closed = true;
    });
    await tick();
    expect(closed).toBe(false);
    s.calls[0]();
    await closing;
    expect(lines(path)).toEqual(['only']);
  });

  it("a 'written' line waits its full delay for a fsync of its own, not the delay armed for an earlier line", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const path = join(tempDir(), 'e.jsonl');
      const s = manualSync();
      const a = new DurableAppender(path, s.fsync);
      await a.append('outcome 1', 'written');
      vi.advanceTimersByTime(0.6);
      // The next pending entry's fsync carries outcome 1.
      const pending = a.append('pending 2');
      await tick();
      expect(s.calls.length).toBe(1);
      s.calls[0]();
      await pending;
      await a.append('outcome 2', 'written');
      // 1.1 ms after outcome 1, 0.5 ms after outcome 2: no fsync yet.
      vi.advanceTimersByTime(0.5);
      await tick();
      expect(s.calls.length).toBe(1);
      vi.advanceTimersByTime(1);
      await tick();
      expect(s.calls.length).toBe(2);
      s.calls[1]();
      await a.close();
      expect(lines(path)).toEqual(['outcome 1', 'pending 2', 'outcome 2']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failed fsync fails its waiters and every later append: nothing more is acknowledged', async () => {
    const path = join(tempDir(), 'c.jsonl');
    const s = manualSync();
    const a = new DurableAppender(path, s.fsync);
    const p = a.append('x');
    await tick();
    s.fails[0](new Error('EIO'));
    await expect(p).rejects.toThrow('EIO');
    await expect(a.append('y', 'written')).rejects.toThrow('EIO');
    await expect(a.append('z')).rejects.toThrow('EIO');
    expect(lines(path)).toEqual(['x']);
    await a.close();
  });

  it('with nothing else in flight, a "synced" line is fsync\'d on the spot; otherwise in the pool', async () => {
    const path = join(tempDir(), 'e.jsonl');
    const s = manualSync();
    let alone = true;
    const a = new DurableAppender(path, s.fsync, () => alone);
    await a.append('inline'); // resolved without the pool's fsync
    expect(s.calls.length).toBe(0);
    alone = false;
    const p = a.append('pooled');
    await tick();
    expect(s.calls.length).toBe(1);
    s.calls[0]();
    await p;
    expect(lines(path)).toEqual(['inline', 'pooled']);
    await a.close();
  });

  it('starts on a fresh line after a torn last line', async () => {
    const path = join(tempDir(), 'd.jsonl');
    writeFileSync(path, '{"torn":');
    const a = new DurableAppender(path);
    await a.append('{"ok":1}');
    await a.close();
    expect(lines(path)).toEqual(['{"torn":', '{"ok":1}']);
  });
});
