import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER_FORMAT = /^sha256=([0-9a-f]{64})$/i;

/** The 32-byte digest of a well-formed `X-Hub-Signature-256: sha256=<64 hex>` header, or undefined. */
export function parseSignatureHeader(header: string | string[] | undefined): Buffer | undefined {
  if (typeof header !== 'string') return undefined;
  const match = HEADER_FORMAT.exec(header.trim());
  return match?.[1] === undefined ? undefined : Buffer.from(match[1], 'hex');
}

/**
 * Checks Meta's HMAC-SHA256 over the exact raw bytes, under any of the app secrets (rotation, or apps that sign with
 * different secrets). Meta escapes non-ASCII as \uXXXX, so a re-serialized body would not match: never hash anything
 * but the bytes received. Constant-time compare of equal-length digests.
 */
export function isValidSignature(rawBody: Buffer, signature: Buffer, appSecrets: readonly string[]): boolean {
  return appSecrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  });
}

/** The header value Meta would send for `rawBody`: for tests and the webhook CLI. */
export function signatureHeader(rawBody: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}
