import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/**
 * The client IP of a raw request (Socket.IO handshakes, WebSocket upgrades), honouring `TRUST_PROXY` exactly as
 * Express does for `req.ip`.
 */
export function createClientAddress(trustProxy: boolean | number | string): (req: IncomingMessage) => string {
  const trust = compileTrust(trustProxy);
  return (req) => proxyAddr(req, trust);
}

function compileTrust(value: boolean | number | string): (addr: string, i: number) => boolean {
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'number') return (_addr, i) => i < value;
  return proxyAddr.compile(value.split(',').map((s) => s.trim()));
}
