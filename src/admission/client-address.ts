import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

/**
 * The client IP of a raw request (Socket.IO handshakes, WebSocket upgrades), honouring `TRUST_PROXY` exactly as
 * Express does for `req.ip`. For logs; per-address limits key on `limitKey` of it.
 */
export function createClientAddress(trustProxy: boolean | number | string): (req: IncomingMessage) => string {
  const trust = compileTrust(trustProxy);
  return (req) => proxyAddr(req, trust);
}

/** The key every per-address limit of a raw request counts under: `limitKey` of its client address. */
export function createClientKey(trustProxy: boolean | number | string): (req: IncomingMessage) => string {
  const address = createClientAddress(trustProxy);
  return (req) => limitKey(address(req));
}

/** Bits of an IPv6 address that name one subscriber: ISPs and clouds hand out a whole /64 (RFC 6177). */
const IPV6_SUBSCRIBER_PREFIX = 64;

/** The one key of every value that is no IP address (a forged `X-Forwarded-For` entry): they share one budget. */
const UNPARSABLE = 'unparsable';

/**
 * What per-address limits count under: an IPv4 address as is (IPv4-mapped IPv6 `::ffff:a.b.c.d` included, as
 * dual-stack sockets report IPv4 clients), an IPv6 address as its /64 prefix, since one client holding a /64 has
 * 2^64 addresses to rotate through.
 */
export function limitKey(address: string | undefined): string {
  if (address === undefined || !ipaddr.isValid(address)) return UNPARSABLE;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.map((part, i) => (i < IPV6_SUBSCRIBER_PREFIX / 16 ? part : 0));
  return `${new ipaddr.IPv6(parts).toString()}/${IPV6_SUBSCRIBER_PREFIX}`;
}

function compileTrust(value: boolean | number | string): (addr: string, i: number) => boolean {
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'number') return (_addr, i) => i < value;
  return proxyAddr.compile(value.split(',').map((s) => s.trim()));
}
