import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createClientAddress, createClientKey, limitKey } from '../src/admission/client-address.js';

describe('limitKey: what per-address limits count under', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::ffff:cb00:7107', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::ffff', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['2001:db8::', '2001:db8::/64'],
    ['::1', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
  ])('%s counts as %s', (address, key) => {
    expect(limitKey(address)).toBe(key);
  });

  it('when two addresses share a /64, then they share a key; the next /64 and IPv4 clients have keys of their own', () => {
    const keys = new Set(['2001:db8:0:a::1', '2001:db8:0:a:ffff:ffff:ffff:ffff', '2001:db8:0:a:1::1'].map(limitKey));
    expect(keys.size).toBe(1);
    expect(limitKey('2001:db8:0:b::1')).not.toBe(limitKey('2001:db8:0:a::1'));
    expect(limitKey('198.51.100.1')).not.toBe(limitKey('198.51.100.2'));
  });

  it('when the value is no IP address (a forged X-Forwarded-For entry), then every such value shares one key', () => {
    expect(new Set(['garbage', '', 'unknown-1', '127.1', '1.2.3.4.5', undefined].map(limitKey))).toEqual(new Set(['unparsable']));
  });
});

describe('client address and key of a real request, honouring TRUST_PROXY', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** A server on 127.0.0.1 that answers each request with what the two functions make of it. */
  async function seenBy(trustProxy: boolean | number | string, xff?: string): Promise<{ address: string; key: string }> {
    const address = createClientAddress(trustProxy);
    const key = createClientKey(trustProxy);
    const server = createServer((req: IncomingMessage, res) => res.end(JSON.stringify({ address: address(req), key: key(req) })));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: xff === undefined ? {} : { 'X-Forwarded-For': xff } });
    return (await res.json()) as { address: string; key: string };
  }

  it('when TRUST_PROXY is off, then X-Forwarded-For is ignored', async () => {
    expect(await seenBy(false, '2001:db8:aa:bb::1')).toEqual({ address: '127.0.0.1', key: '127.0.0.1' });
  });

  it('when TRUST_PROXY is on and X-Forwarded-For carries IPv6, then the address is the client and the key its /64', async () => {
    expect(await seenBy(true, '2001:db8:aa:bb::1, 10.0.0.1')).toEqual({ address: '2001:db8:aa:bb::1', key: '2001:db8:aa:bb::/64' });
  });

  it('when TRUST_PROXY counts one hop, then the entry the proxy added is the client', async () => {
    expect(await seenBy(1, '2001:db8:ff::9, 2001:db8:aa:bb:cc::7')).toEqual({
      address: '2001:db8:aa:bb:cc::7',
      key: '2001:db8:aa:bb::/64',
    });
  });

  it('when TRUST_PROXY names the proxy (loopback) and X-Forwarded-For carries an IPv4-mapped address, then the key is the IPv4', async () => {
    expect(await seenBy('loopback', '::ffff:198.51.100.9')).toEqual({ address: '::ffff:198.51.100.9', key: '198.51.100.9' });
  });
});
