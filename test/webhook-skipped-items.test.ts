import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.js';
import { postSigned } from './helpers/webhooks.js';

const skipped = async (url: string): Promise<number> => {
  const text = (await request(url).get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith('instantchat_webhook_items_skipped_total '));
  return Number(line?.split(' ')[1]);
};

describe('items of unknown fields in a signed webhook', () => {
  let srv: RunningServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(() => srv.stop());

  it('are counted in instantchat_webhook_items_skipped_total, beside the items that are delivered', async () => {
    const before = await skipped(srv.url);
    const mixed = JSON.stringify({
      object: 'instagram',
      entry: [
        {
          id: '17841400000000001',
          time: 1767609600,
          changes: [
            { field: 'comments', value: { from: { id: '1', username: 'u' }, media: { id: 'm' }, id: 'c-skip-1', text: 'hi' } },
            { field: 'feed', value: { item: 'status' } },
            { field: 'no_such_field', value: {} },
          ],
        },
      ],
    });
    const res = await postSigned(srv.url, mixed);
    expect(res.status).toBe(200);
    expect((await skipped(srv.url)) - before).toBe(2);
    // Positive control: a body with only known items adds nothing.
    const known = mixed.replace(/,\{"field":"feed".*\]\}\]/, ']}]').replace('c-skip-1', 'c-skip-2');
    expect((await postSigned(srv.url, known)).status).toBe(200);
    expect((await skipped(srv.url)) - before).toBe(2);
  });
});
