import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, TEST_VERIFY_TOKEN, type RunningServer } from './helpers/server.js';

describe('HTTP basics', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'false' });
  });
  afterAll(() => srv.stop());

  it('GET /healthz answers 200 {status: ok} while the process runs', async () => {
    const res = await request(srv.url).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok' });
  });

  it('GET /readyz answers 200 {status: ready} when ready', async () => {
    const res = await request(srv.url).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready' });
  });

  it('answers unknown routes 404 with the JSON error shape', async () => {
    const res = await request(srv.url).get('/no/such/route');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: 'not_found', message: expect.any(String) });
  });

  it('sends helmet security headers and no X-Powered-By', async () => {
    const res = await request(srv.url).get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  describe("Meta's verification handshake", () => {
    it('echoes hub.challenge as plain text when the verify token matches', async () => {
      const res = await request(srv.url)
        .get('/api/webhooks/instagram')
        .query({ 'hub.mode': 'subscribe', 'hub.verify_token': TEST_VERIFY_TOKEN, 'hub.challenge': '1158201444' });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/plain/);
      expect(res.text).toBe('1158201444');
    });

    it.each([
      ['a wrong verify token', { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' }],
      ['a wrong mode', { 'hub.mode': 'unsubscribe', 'hub.verify_token': TEST_VERIFY_TOKEN, 'hub.challenge': '1' }],
      ['no parameters', {}],
    ])('answers 403 forbidden on %s', async (_name, query) => {
      const res = await request(srv.url).get('/api/webhooks/instagram').query(query);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'forbidden', message: expect.any(String) });
    });
  });

  it('GET / is 404 when DEMO_PAGE=false', async () => {
    const res = await request(srv.url).get('/');
    expect(res.status).toBe(404);
  });

  it('admin API is 404 while ADMIN_TOKEN is unset', async () => {
    const res = await request(srv.url).get('/api/admin/clients').set('Authorization', 'Bearer anything');
    expect(res.status).toBe(404);
  });
});
