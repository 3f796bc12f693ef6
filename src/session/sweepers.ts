import type { SessionRegistry } from './registry.js';
import type { Session } from './session.js';

/**
 * One interval for every connection: a connection silent (no client event of any kind) for longer than `timeoutMs`
 * is closed. Engine.IO's ping/pong only proves the TCP peer is alive; the protocol's heartbeat proves an awake client.
 */
export function startHeartbeatSweeper(
  registry: SessionRegistry<Session>,
  options: { timeoutMs: number; sweepMs: number },
): () => void {
  const timer = setInterval(() => {
    const deadline = Date.now() - options.timeoutMs;
    for (const session of registry.values()) {
      if (session.state.lastActivityAt < deadline) session.close('heartbeat_timeout');
    }
  }, options.sweepMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** How often send backlogs are measured between sends. */
const BACKLOG_CHECK_MS = 1000;

/**
 * Broadcasts reach Socket.IO connections through the adapter, past the session's own check at each send: measure
 * every connection's backlog once a second, so that a client that stops reading notifications is found too.
 */
export function startBacklogSweeper(registry: SessionRegistry<Session>): () => void {
  const timer = setInterval(() => {
    for (const session of registry.values()) session.checkBacklog();
  }, BACKLOG_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
