import type { createClient } from 'redis';
import type { Logger } from '../observability/logger.js';

type RedisClient = ReturnType<typeof createClient>;

/**
 * The two places this server wraps node-redis clients, in one module, each checked when applied: a node-redis
 * upgrade that renames a wrapped member fails at start-up instead of bringing back the failures these fix.
 */

function assertMembers(client: RedisClient, members: readonly string[]): void {
  const missing = members.filter((name) => typeof (client as unknown as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw new Error(`node-redis client members this server wraps are gone: ${missing.join(', ')}`);
}

/**
 * Records the duplicates the streams adapter makes of `client`, so that they can be closed and watched (readiness).
 * The adapter ends each with `disconnect()`, which throws once the client is closed and rejects its pending commands,
 * some of which the adapter never catches (an unhandled rejection): `end` replaces it.
 */
export function trackDuplicates(
  client: RedisClient,
  options: { onCopy: (copy: RedisClient) => void; end: (copy: RedisClient) => Promise<void>; logger: Logger },
): void {
  assertMembers(client, ['duplicate', 'disconnect']);
  const duplicate = client.duplicate.bind(client);
  client.duplicate = ((...args: Parameters<typeof duplicate>) => {
    const copy = duplicate(...args) as RedisClient;
    copy.disconnect = () => options.end(copy);
    copy.on('error', (err: Error) => options.logger.debug({ err: err.message, client: 'adapter copy' }, 'redis error'));
    options.onCopy(copy);
    return copy;
  }) as typeof client.duplicate;
}

/**
 * The streams adapter fires some commands and forgets them (it saves a dropped socket's session with SET and sends
 * server-side events with PUBLISH, never awaiting either): while Redis is away those reject with nobody listening,
 * an unhandled rejection. Give them a listener that logs.
 */
export function catchForgottenCommands(client: RedisClient, logger: Logger): void {
  assertMembers(client, ['set', 'publish']);
  for (const name of ['set', 'publish'] as const) {
    const command = (client[name] as (...args: unknown[]) => Promise<unknown>).bind(client);
    (client as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const reply = command(...args);
      reply.catch((err: unknown) => logger.debug({ err: String(err), command: name }, 'redis command failed'));
      return reply;
    };
  }
}
