import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RollingSums } from '../../src/safety/sums.js';

interface E {
  key: string;
  at: number;
  amount: number;
}

type Op =
  | { op: 'put'; name: string; key: string; at: number; amount: number }
  | { op: 'sum'; name: string; since: number }
  | { op: 'freed'; name: string; since: number; excess: number }
  | { op: 'prune'; name: string; cutoff: number }
  | { op: 'move'; key: string; to: string };

const names = fc.constantFrom('a', 'b');
const keys = fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5', 'k6');
// Few distinct times: entries at the same time, and at the window edge, are the hard cases.
const times = fc.integer({ min: 0, max: 8 });
const ops: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      name: names,
      key: keys,
      at: times,
      amount: fc.integer({ min: 0, max: 9 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('sum' as const), name: names, since: times }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('freed' as const),
      name: names,
      since: times,
      excess: fc.integer({ min: 1, max: 30 }),
    }),
  },
  // Pruning is rare and shallow: the horizon moves on slowly, and later entries must still land.
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('prune' as const),
      name: names,
      cutoff: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('move' as const), key: keys, to: names }) },
);

describe('rolling sums', () => {
  it('agree with a scan of the entries, whatever the order of puts, changes, queries and pruning', () => {
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 80 }), (script) => {
        const sums = new RollingSums<E>((e) => e.amount);
        // The model: the live entry of each key, and where it is summed.
        const live = new Map<string, { e: E; name: string }>();
        const pruned = new Map<string, number>();
        const scan = (name: string, since: number) =>
          [...live.values()].filter(
            (l) => l.name === name && l.e.at >= since && l.e.at >= (pruned.get(name) ?? -1),
          );
        for (const o of script) {
          // Like the ledger's index, nothing older than what was pruned is put again.
          if (o.op === 'put') {
            if (o.at < (pruned.get(o.name) ?? -1)) continue;
            const old = live.get(o.key);
            const e = { key: o.key, at: o.at, amount: o.amount };
            if (old && old.name !== o.name) sums.remove(old.name, old.e);
            sums.put(o.name, e, old && old.name === o.name ? old.e : undefined);
            live.set(o.key, { e, name: o.name });
          } else if (o.op === 'move') {
            const old = live.get(o.key);
            if (!old || old.name === o.to || old.e.at < (pruned.get(o.to) ?? -1)) continue;
            sums.remove(old.name, old.e);
            sums.put(o.to, old.e);
            live.set(o.key, { e: old.e, name: o.to });
          } else if (o.op === 'sum') {
            const want = scan(o.name, o.since).reduce((a, l) => a + l.e.amount, 0);
            expect(sums.sum(o.name, o.since)).toBe(want);
          } else if (o.op === 'freed') {
            const inWindow = scan(o.name, o.since).sort((x, y) => x.e.at - y.e.at);
            let acc = 0;
            let want: number | undefined;
            for (const l of inWindow) {
              acc += l.e.amount;
              if (acc >= o.excess) {
                want = l.e.at;
                break;
              }
            }
            expect(sums.freedBy(o.name, o.since, o.excess)).toBe(want);
          } else {
            // Pruning forgets what is older than the cutoff (the ledger's horizon only moves on).
            const cutoff = Math.max(o.cutoff, pruned.get(o.name) ?? -1);
            pruned.set(o.name, cutoff);
            sums.prune(o.name, cutoff);
            for (const [k, l] of live) if (l.name === o.name && l.e.at < cutoff) live.delete(k);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a sum over a long history costs the same as over a short one (the cursor moves, nothing is scanned)', () => {
    const sums = new RollingSums<E>((e) => e.amount);
    const n = 200_000;
    for (let i = 0; i < n; i++) sums.put('c', { key: `k${i}`, at: i, amount: 1 });
    expect(sums.sum('c', n - 10)).toBe(10);
    // Work per query: count amount() calls while asking for a window that moves on by one.
    let calls = 0;
    const counted = new RollingSums<E>((e) => {
      calls++;
      return e.amount;
    });
    for (let i = 0; i < n; i++) counted.put('c', { key: `k${i}`, at: i, amount: 1 });
    counted.sum('c', n - 1000);
    calls = 0;
    for (let t = n - 999; t < n; t++) counted.sum('c', t);
    // One entry leaves the window per step.
    expect(calls).toBeLessThanOrEqual(999);
  });
});
