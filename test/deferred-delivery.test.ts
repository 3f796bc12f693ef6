import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createBroadcaster, type RoomEmitter } from '../src/delivery/broadcaster.js';
import { DeferredDelivery } from '../src/delivery/deferred-delivery.js';
import { MemoryHistoryStore } from '../src/notifications/history.js';
import type { Notification } from '../src/notifications/notification.js';
import { createLogger, type Logger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';

const notification = (i: number): Notification => ({
  id: `n${i}`,
  eventType: 'comments',
  accountId: '17841400000000001',
  sender: { id: '1' },
  timestamp: '2026-12-04T10:00:00.000Z',
  content: `text ${i}`,
});

/** A transport that records what reached it, and can be slow (busy for `costMs` per emit) or broken. */
function transport(costMs = 0, broken = false): RoomEmitter & { got: string[] } {
  const got: string[] = [];
  return {
    got,
    emitToRooms: (_rooms, n) => {
      if (broken) throw new Error('relay down');
      const until = performance.now() + costMs;
      while (performance.now() < until); // a large fan-out's synchronous cost
      got.push(n.id);
    },
  };
}

function silentLogger() {
  const lines: { msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string });
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

/** The broadcaster as the server wires it: history, then emits deferred to the next turns. */
function deferredBroadcaster(transports: RoomEmitter[], logger: Logger, paused?: () => boolean) {
  const deliveries = new DeferredDelivery(logger, paused);
  const metrics = createMetrics();
  const publisher = createBroadcaster({
    history: new MemoryHistoryStore({ size: 100, maxAccounts: 100 }),
    metrics,
    logger,
    emitters: transports,
    deferred: deliveries,
  });
  return {
    deliveries,
    metrics,
    emitToRooms: async (_rooms: string[], n: Notification) => publisher.publish(n, performance.now()),
  };
}

describe('DeferredDelivery (answer Meta, then deliver)', () => {
  it('hands nothing over in the turn of the emit, everything in order on the next turns', async () => {
    const target = transport();
    const delivery = deferredBroadcaster([target], silentLogger().logger);
    for (let i = 0; i < 5; i++) await delivery.emitToRooms(['a'], notification(i));
    expect(target.got).toEqual([]); // the webhook's answer is written before any of it
    const emitsObserved = async () =>
      (await delivery.metrics.webhookToEmitSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
    expect(await emitsObserved()).toBe(0); // instantchat_webhook_to_emit_seconds times the emit, not the queueing
    await nextTurn();
    expect(target.got).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
    expect(await emitsObserved()).toBe(5);
  });

  it('yields between slices of a burst of slow fan-outs, still in order and complete', async () => {
    const target = transport(3);
    const delivery = deferredBroadcaster([target], silentLogger().logger);
    for (let i = 0; i < 20; i++) await delivery.emitToRooms(['a'], notification(i));
    await nextTurn();
    // 20 × 3 ms does not fit one slice: the loop got the turn back before the end (positive control below).
    expect(target.got.length).toBeGreaterThan(0);
    expect(target.got.length).toBeLessThan(20);
    for (let turns = 0; turns < 100 && target.got.length < 20; turns++) await nextTurn();
    expect(target.got).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
  });

  it('flush() delivers everything queued at once (shutdown, before the goodbye)', async () => {
    const target = transport(3);
    const delivery = deferredBroadcaster([target], silentLogger().logger);
    for (let i = 0; i < 10; i++) await delivery.emitToRooms(['a'], notification(i));
    delivery.deliveries.flush();
    expect(target.got).toHaveLength(10);
  });

  it('waits while paused (a transport still releasing earlier writes), then delivers everything in order', async () => {
    let paused = true;
    const target = transport();
    const delivery = deferredBroadcaster([target], silentLogger().logger, () => paused);
    for (let i = 0; i < 3; i++) await delivery.emitToRooms(['a'], notification(i));
    for (let turns = 0; turns < 5; turns++) await nextTurn();
    expect(target.got).toEqual([]);
    paused = false;
    await nextTurn();
    await nextTurn();
    expect(target.got).toEqual(['n0', 'n1', 'n2']); // positive control of the wait above
  });

  it('flush() does not wait for a pause', async () => {
    const target = transport();
    const delivery = deferredBroadcaster([target], silentLogger().logger, () => true);
    await delivery.emitToRooms(['a'], notification(1));
    delivery.deliveries.flush();
    expect(target.got).toEqual(['n1']);
  });

  it('a failing transport does not keep the others from delivering, and is logged', async () => {
    const { logger, lines } = silentLogger();
    const healthy = transport();
    const delivery = deferredBroadcaster([transport(0, true), healthy], logger);
    await delivery.emitToRooms(['a'], notification(1));
    await nextTurn();
    expect(healthy.got).toEqual(['n1']);
    expect(lines.map((l) => l.msg)).toContain('delivery to a transport failed');
  });
});
