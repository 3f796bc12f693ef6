import type { IncomingMessage } from 'node:http';
import type { ConnectionAdmission } from '../admission/connection-admission.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SessionHub } from '../session/session-hub.js';

/** What every transport (Socket.IO, raw WebSocket) needs to admit connections and open them on the session core. */
export interface GatewayOptions {
  readonly hub: SessionHub;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly admission: ConnectionAdmission;
  /** The client address of a request, honouring `TRUST_PROXY` (for logs). */
  readonly clientAddress: (req: IncomingMessage) => string;
}
