import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';

/** A signing key of an identity provider: its private half signs, its public half is published in the JWKS. */
export interface ProviderKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: KeyObject;
  /** The public JWK as a JWKS lists it. */
  readonly jwk: Record<string, unknown>;
}

export function providerKey(kid: string, alg: 'RS256' | 'ES256'): ProviderKey {
  const { privateKey, publicKey } =
    alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

/** A token signed by `key`, its `kid` in the header (`kid: null` leaves it out); an hour long unless `claims.exp`. */
export function providerToken(key: ProviderKey, claims: Record<string, unknown>, options: { kid?: string | null } = {}): string {
  const kid = options.kid === undefined ? key.kid : options.kid;
  return jwt.sign(claims, key.privateKey, {
    algorithm: key.alg,
    ...(claims.exp === undefined && { expiresIn: 3600 }),
    ...(kid !== null && { keyid: kid }),
  });
}

/**
 * An identity provider's JWKS endpoint on 127.0.0.1: serves the keys it is given at `/.well-known/jwks.json`, counts
 * the requests it answered, and can be stopped (connections cut: the endpoint is unreachable) and started again on
 * the same port.
 */
export class JwksServer {
  #keys: Array<Record<string, unknown>> = [];
  #server: Server | undefined;
  #port = 0;
  /** Requests for the set received so far. */
  requests = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}/.well-known/jwks.json`;
  }

  /** Publishes exactly these keys from now on. */
  publish(...keys: ProviderKey[]): void {
    this.#keys = keys.map((key) => key.jwk);
  }

  /** Publishes raw JWKs (for keys of kinds a provider should never list, such as `oct`). */
  publishRaw(jwks: Array<Record<string, unknown>>): void {
    this.#keys = jwks;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      this.requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.#keys }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops answering: the listener closes and kept-alive connections are cut, so fetches fail at once. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
