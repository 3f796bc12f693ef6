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
