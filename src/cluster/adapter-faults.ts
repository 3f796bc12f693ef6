import { setTimeout as sleep } from 'node:timers/promises';
import type { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Logger } from '../observability/logger.js';

type AdapterFactory = ReturnType<typeof createAdapter>;
type Message = { type: number; data?: { requestId?: unknown } };
interface StreamsAdapterInternals {
  doPublish(message: Message): Promise<string>;
  restoreSession(pid: string, offset: string): Promise<unknown>;
}

/** socket.io-adapter's `MessageType.BROADCAST`: a broadcast to rooms, written to the Redis stream. */
const BROADCAST = 3;
/** A broadcast whose stream write failed is written again this often, for at most this long. */
const WRITE_RETRY_MS = 200;
const WRITE_RETRY_FOR_MS = 5000;
/** Longest a reconnecting client's session restore may wait on Redis before it connects afresh. */
const RESTORE_TIMEOUT_MS = 2000;

/** A pause that does not keep the process alive (a stop does not wait for a retry). */
const pause = (ms: number) => sleep(ms, undefined, { ref: false });

/**
 * The streams adapter under Redis faults, for every adapter `factory` makes:
 * - A broadcast whose stream write fails (a connection cut mid-write, a refused write) is delivered by the adapter
 *   to this instance's sockets only, without a recovery offset: the other instances never see it, and a webhook
 *   answered 200 would miss their clients (test/cluster-faults.test.ts). The write is retried (bounded), so that the
 *   broadcast reaches every instance once Redis takes it; local delivery waits for it (the adapter's own order). A
 *   write that failed after Redis applied it may then be in the stream twice: clients tell repeats by id (SPEC,
 *   client rules).
 * - Restoring a reconnecting client's session reads Redis through the adapter's connection, which queues while Redis
 *   is away: the client's connect hung until Redis came back. A restore that takes longer than `RESTORE_TIMEOUT_MS`
 *   fails, and Socket.IO connects the client afresh (it then catches up with `get_history`).
 */
export function withFaultHandling(factory: AdapterFactory, logger: Logger): AdapterFactory {
  // A plain function: Socket.IO calls it with `new`, and takes the object it returns.
  return function createFaultHandlingAdapter(nsp: Parameters<AdapterFactory>[0]) {
    const adapter = factory(nsp);
    const internals = adapter as unknown as StreamsAdapterInternals;
    if (typeof internals.doPublish !== 'function' || typeof internals.restoreSession !== 'function') {
      throw new Error('Socket.IO streams adapter internals this server relies on are gone: doPublish, restoreSession');
    }
    const publish = internals.doPublish.bind(adapter);
    internals.doPublish = async (message) => {
      if (message.type !== BROADCAST || message.data?.requestId !== undefined) return publish(message);
      const until = Date.now() + WRITE_RETRY_FOR_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          return await publish(message);
        } catch (err) {
          if (Date.now() + WRITE_RETRY_MS > until) {
            logger.error({ err: String(err), attempts: attempt + 1 }, 'broadcast not written to the Redis stream: other instances miss it');
            throw err;
          }
          if (attempt === 0) logger.warn({ err: String(err) }, 'broadcast stream write failed: retrying');
          await pause(WRITE_RETRY_MS);
        }
      }
    };
    const restore = internals.restoreSession.bind(adapter);
    internals.restoreSession = (pid, offset) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('session restore timed out')), RESTORE_TIMEOUT_MS);
      });
      const restoring = restore(pid, offset);
      // Its late failure (Redis away) has nobody else to listen.
      restoring.catch(() => undefined);
      return Promise.race([restoring, timeout]).finally(() => clearTimeout(timer));
    };
    return adapter;
  } as AdapterFactory;
}
