import type { IncomingMessage } from 'node:http';

/**
 * Browser origins allowed to open sockets: `CLIENT_URL`'s list and the server's own origin. Requests with no
 * `Origin` header (servers, CLIs) are not browsers and are not affected. Checked on WebSocket upgrades too, which
 * CORS does not cover (cross-site WebSocket hijacking).
 */
export function createOriginPolicy(allowed: readonly string[]) {
  const allowedSet = new Set(allowed);
  return {
    isAllowed(origin: string | undefined, req?: IncomingMessage): boolean {
      if (origin === undefined) return true;
      if (allowedSet.has(origin)) return true;
      return req !== undefined && isOwnOrigin(origin, req);
    },
  };
}

export type OriginPolicy = ReturnType<typeof createOriginPolicy>;

function isOwnOrigin(origin: string, req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
