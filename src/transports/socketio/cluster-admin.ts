import type { Revocations } from '../../auth/revocations.js';
import type { Logger } from '../../observability/logger.js';
import { AppError } from '../../protocol/errors.js';
import { listConnections, type AdminCommands } from '../../session/admin-view.js';
import type { SessionHub } from '../../session/session-hub.js';
import type { IoServer } from './types.js';

/**
 * The admin API's view of every instance. In cluster mode the other instances are asked through Socket.IO's
 * server-side events with acknowledgements (over the adapter's Redis stream): each answers for its own connections.
 * The adapter waits 5 s (socket.io-adapter's fixed delay) for the instances it has heard from through its heartbeat;
 * one that does not answer by then is left out, and the answer says `partial`. A revocation stays recorded in Redis
 * all the same, so that instance refuses the user's old tokens; it closes the user's connections when the event
 * reaches it (the stream keeps it while its Redis connection is down).
 */
export function createClusterAdmin(options: {
  io: IoServer;
  hub: SessionHub;
  revocations: Revocations;
  clustered: boolean;
  logger: Logger;
}): AdminCommands {
  const { io, hub, revocations, clustered, logger } = options;

  if (clustered) {
    io.on('list_clients', (answer) => {
      if (typeof answer === 'function') answer(listConnections(hub.registry));
    });
    io.on('revoke_user', (userId, revokedAt, answer) => {
      if (typeof userId !== 'string' || typeof revokedAt !== 'number' || typeof answer !== 'function') return;
      revocations.remember(userId, revokedAt);
      const disconnected = hub.revokeUser(userId, revokedAt);
      if (disconnected > 0) logger.info({ userId, disconnected }, 'revoked user disconnected (announced by another instance)');
      answer(disconnected);
    });
  }

  return {
    async listClients() {
      const local = listConnections(hub.registry);
      if (!clustered) return { clients: local, partial: false };
      const { answers, partial } = await askOthers(() => io.serverSideEmitWithAck('list_clients'));
      const remote = answers.filter((answer) => Array.isArray(answer)).flat();
      return { clients: [...local, ...remote], partial };
    },

    async revokeUser(userId) {
      const revokedAt = Date.now();
      // Recorded first: a client told to go cannot come back with the same token, here or elsewhere. When Redis cannot
      // record it, nobody is disconnected: a 200 would promise what is not kept.
      try {
        await revocations.revoke(userId, revokedAt);
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err), userId }, 'revocation not recorded');
        throw new AppError('not_ready', 'The revocation could not be recorded (Redis unreachable); retry');
      }
      const local = hub.revokeUser(userId, revokedAt);
      logger.info({ userId, disconnected: local }, 'user revoked');
      if (!clustered) return { disconnected: local, partial: false };
      const { answers, partial } = await askOthers(() => io.serverSideEmitWithAck('revoke_user', userId, revokedAt));
      const remote = answers.reduce<number>((sum, n) => sum + (Number.isInteger(n) && n > 0 ? n : 0), 0);
      if (partial) logger.warn({ userId }, 'revocation: some instances did not answer in time');
      return { disconnected: local + remote, partial };
    },
  };
}

/** The answers of the other instances; on the adapter's timeout, those that came in time, flagged `partial`. */
async function askOthers<T>(ask: () => Promise<T[]>): Promise<{ answers: T[]; partial: boolean }> {
  try {
    return { answers: await ask(), partial: false };
  } catch (err) {
    const answers = (err as { responses?: unknown }).responses;
    return { answers: Array.isArray(answers) ? (answers as T[]) : [], partial: true };
  }
}
