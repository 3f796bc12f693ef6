import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/session/deadlines.js';

describe('Deadlines: many connections\' deadlines on one timer', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  it('fires each deadline at its time, not before, in time order, whatever the order they were set in', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key: fc.integer({ min: 0, max: 30 }), delay: fc.integer({ min: 0, max: 5000 }) }), { maxLength: 60 }), (plan) => {
        vi.setSystemTime(0);
        const deadlines = new Deadlines<number>();
        const fired: Array<{ key: number; at: number }> = [];
        const expected = new Map<number, number>();
        for (const { key, delay } of plan) {
          deadlines.schedule(key, delay, () => fired.push({ key, at: Date.now() }));
          expected.set(key, delay); // a later schedule replaces the key's earlier one
        }
        vi.advanceTimersByTime(6000);
        const want = [...expected].map(([key, at]) => ({ key, at })).sort((a, b) => a.at - b.at || a.key - b.key);
        expect([...fired].sort((a, b) => a.at - b.at || a.key - b.key)).toEqual(want);
        expect(vi.getTimerCount()).toBe(0);
        deadlines.stop();
      }),
      { numRuns: 200 },
    );
  });

  it('holds one timer for thousands of deadlines; a cancelled one never fires; stop() clears the timer', () => {
    vi.setSystemTime(0);
    const deadlines = new Deadlines<number>();
    const fired: number[] = [];
    for (let i = 0; i < 5000; i++) deadlines.schedule(i, 1000 + i, () => fired.push(i));
    expect(vi.getTimerCount()).toBe(1);
    deadlines.cancel(0);
    deadlines.cancel(2);
    vi.advanceTimersByTime(1003);
    expect(fired).toEqual([1, 3]);
    deadlines.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual([1, 3]);
  });

  it('re-arms past the longest delay setTimeout honours', () => {
    vi.setSystemTime(0);
    const deadlines = new Deadlines<string>();
    let fired = false;
    const far = 30 * 24 * 3600 * 1000;
    deadlines.schedule('far', far, () => (fired = true));
    vi.advanceTimersByTime(2 ** 31);
    expect(fired).toBe(false);
    vi.advanceTimersByTime(far - 2 ** 31);
    expect(fired).toBe(true);
  });
});

describe('Deadlines under churn', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  it('cancelling the earliest re-arms for the next, or clears the timer when none is left', () => {
    vi.setSystemTime(0);
    const deadlines = new Deadlines<string>();
    const fired: string[] = [];
    deadlines.schedule('a', 100, () => fired.push('a'));
    deadlines.schedule('b', 200, () => fired.push('b'));
    deadlines.cancel('a');
    vi.advanceTimersByTime(150);
    expect(fired).toEqual([]);
    deadlines.cancel('b');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not grow with connections that come and go: cancelled entries are compacted away', () => {
    vi.setSystemTime(0);
    const deadlines = new Deadlines<number>();
    for (let i = 0; i < 100_000; i++) {
      deadlines.schedule(i, 3_600_000 + i, () => undefined);
      deadlines.cancel(i);
    }
    expect(deadlines.size).toBe(0);
    expect(deadlines.heapSize).toBeLessThanOrEqual(64);
    // Positive control: live deadlines stay, and fire.
    let fired = 0;
    for (let i = 0; i < 1000; i++) deadlines.schedule(i, 10 + i, () => fired++);
    expect(deadlines.heapSize).toBeGreaterThanOrEqual(1000);
    vi.advanceTimersByTime(2000);
    expect(fired).toBe(1000);
    expect(vi.getTimerCount()).toBe(0);
  });
});
