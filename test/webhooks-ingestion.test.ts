import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDedupeStore, type DedupeStore } from '../src/notifications/dedupe.js';
import { createPublishOnce } from '../src/notifications/publish-once.js';
import { EXPECTED_NOTIFICATIONS } from './fixtures/instagram/expected.js';
import { closeClients } from './helpers/clients.js';
import { startServer, type RunningServer } from './helpers/server.js';
import {
  countDelta,
  expectOnlyThenControl,
  sendControl,
  watcher,
  webhookCounts,
} from './helpers/webhook-deliveries.js';
import { fixtureBytes, fixtureNames, flatEvent, postFlat, postSigned } from './helpers/webhooks.js';

const ACCOUNT = '17841405822304914';
const ACCOUNT_2 = '17841463390127785';

const running: RunningServer[] = [];

/** A fresh server per test: dedupe is per server, and several fixtures share ids across files. */
async function freshServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const srv = await startServer({ DEMO_PAGE: 'false', ...env });
  running.push(srv);
  return srv;
}

afterEach(async () => {
  closeClients();
  await Promise.all(running.splice(0).map((srv) => srv.stop()));
});

const expectedFor = (name: string) => {
  const expected = EXPECTED_NOTIFICATIONS[name];
  if (expected === undefined) throw new Error(`${name} has no entry in fixtures/instagram/expected.ts`);
  return expected;
};

/** A Meta envelope of one entry holding only `changes` (a subset of a fixture's, to pre-seed dedupe). */
const envelopeOfChanges = (entryId: string, time: number, changes: unknown[]) =>
  JSON.stringify({ object: 'instagram', entry: [{ id: entryId, time, changes }] });

describe('when Meta posts a signed fixture, then every subscriber receives exactly its notifications in order', () => {
  it('covers every fixture file, and expected.ts names no missing file', () => {
    expect(Object.keys(EXPECTED_NOTIFICATIONS).sort()).toEqual(fixtureNames());
  });

  it.each(fixtureNames())('%s', async (name) => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const expected = expectedFor(name);

    const res = await postSigned(srv.url, fixtureBytes(name));

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('EVENT_RECEIVED');
    expect(await all.until(expected.length)).toEqual(expected);
    // Nothing more than the expected list: a control posted afterwards is the very next delivery.
    await expectOnlyThenControl(srv.url, all, 0, expected.map((n) => n.id));
  });
});

describe('batched POSTs', () => {
  it('when one POST carries several entries of two accounts, then each item reaches only its account room, in order', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url, ['*'], 'all');
    const first = await watcher(srv.url, [ACCOUNT], 'first');
    const second = await watcher(srv.url, [ACCOUNT_2], 'second');
    const changes = expectedFor('batched_changes.json');
    const multi = expectedFor('batched_multi_entry.json');
    const everything = [...changes, ...multi];

    expect((await postSigned(srv.url, fixtureBytes('batched_changes.json'))).status).toBe(200);
    expect((await postSigned(srv.url, fixtureBytes('batched_multi_entry.json'))).status).toBe(200);

    expect(await all.until(everything.length)).toEqual(everything);
    // Controls to each account: once they are in, nothing of the other account can still be on its way.
    await sendControl(srv.url, [all, first], ACCOUNT);
    await sendControl(srv.url, [all, second], ACCOUNT_2);
    const ofFirst = everything.filter((n) => n.accountId === ACCOUNT);
    const ofSecond = everything.filter((n) => n.accountId === ACCOUNT_2);
    expect(ofFirst.length).toBeGreaterThan(0);
    expect(ofSecond.map((n) => n.id)).toEqual([changes[3]?.id, multi[1]?.id]);
    expect(first.events.slice(0, -1)).toEqual(ofFirst);
    expect(second.events.slice(0, -1)).toEqual(ofSecond);
    expect(first.events.every((n) => n.accountId === ACCOUNT)).toBe(true);
    expect(second.events.every((n) => n.accountId === ACCOUNT_2)).toBe(true);
  });
});

describe('unicode', () => {
  it("when the text comes \\u-escaped as Meta sends it, then it arrives decoded exactly", async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);

    expect((await postSigned(srv.url, fixtureBytes('unicode_text.json'))).status).toBe(200);

    const [notification] = await all.until(1);
    expect(notification?.content).toBe('Olá! Café às 9h? ❤️😀 привет مرحبا 日本');
  });

  it('when the text comes as raw UTF-8 bytes, then it arrives decoded exactly', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const text = 'Ação 👍🏽 «ok» 中文 עברית \u200d👩‍👩‍👧 \u{1F600}';
    const event = flatEvent({ comment: { text } });

    expect((await postFlat(srv.url, event)).status).toBe(200);

    expect((await all.arrival(event.id as string)).content).toBe(text);
  });
});

describe('the flat shape of the integration guide', () => {
  const sender = { id: '111', username: 'alice' };
  const base = { eventType: 'comments', accountId: '17841400000000001', sender, timestamp: '2024-01-01T12:00:00.000Z' };

  it.each([
    ['message.text', { eventType: 'messages', message: { text: 'hi there' } }, 'messages', 'hi there'],
    ['comment.text', { comment: { text: 'Great post!' } }, 'comments', 'Great post!'],
    ['a top-level content', { content: 'plain content' }, 'comments', 'plain content'],
  ])('when the text is in %s, then the notification is delivered with it', async (_where, fields, eventType, content) => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const id = `flat_${eventType}_${content.length}`;

    const res = await postFlat(srv.url, { ...base, id, ...fields });

    expect(res.status).toBe(200);
    expect(res.text).toBe('EVENT_RECEIVED');
    expect(await all.until(1)).toEqual([
      { id, eventType, accountId: base.accountId, sender, content, timestamp: base.timestamp },
    ]);
  });

  it.each(['id', 'eventType', 'accountId'])('when %s is missing, then 200 and nothing is delivered', async (field) => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const event = flatEvent();
    delete event[field];

    const res = await postFlat(srv.url, event);

    expect(res.status).toBe(200);
    expect(res.text).toBe('EVENT_RECEIVED');
    await expectOnlyThenControl(srv.url, all, 0);
  });

  it('when the eventType is not a known one, then 200 and nothing is delivered', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);

    expect((await postFlat(srv.url, flatEvent({ eventType: 'feed' }))).status).toBe(200);

    await expectOnlyThenControl(srv.url, all, 0);
  });
});

describe('dedupe', () => {
  it('when the same POST comes twice, then both answer 200 and it is delivered once', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const body = fixtureBytes('comments.json');
    const before = await webhookCounts(srv.url);

    const first = await postSigned(srv.url, body);
    const second = await postSigned(srv.url, body);

    expect([first.status, first.text, second.status, second.text]).toEqual([200, 'EVENT_RECEIVED', 200, 'EVENT_RECEIVED']);
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ accepted: 1, duplicate: 1 });
    await expectOnlyThenControl(srv.url, all, 0, ['17869210483201944']);
  });

  it('when the same POST comes twice at once, then it is delivered once', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const body = fixtureBytes('batched_changes.json');

    const answers = await Promise.all([postSigned(srv.url, body), postSigned(srv.url, body)]);

    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await expectOnlyThenControl(
      srv.url,
      all,
      0,
      expectedFor('batched_changes.json').map((n) => n.id),
    );
  });

  it('when the dedupe store answers slowly (as a shared one would), then two simultaneous ingests deliver once', async () => {
    const claimed = new Set<string>();
    // A network store decides atomically when the command reaches it, and answers one event-loop trip later.
    const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)));
    const slowStore: DedupeStore = {
      claim: (id) => later(claimed.has(id) ? 'delivered' : (claimed.add(id), 'claimed')),
      commit: () => later(undefined),
      release: (id) => later(void claimed.delete(id)),
    };
    const published: string[] = [];
    const ingest = createPublishOnce({
      dedupe: slowStore,
      publisher: { publish: (n) => void published.push(n.id) },
    });
    const batch = expectedFor('batched_changes.json');

    const outcomes = await Promise.all([ingest(batch, 0), ingest(batch, 0)]);

    expect(published).toEqual(batch.map((n) => n.id));
    // Which request delivers which item is up to the interleaving; together, each item once and once a duplicate.
    expect(outcomes.reduce((sum, o) => sum + o.duplicates, 0)).toBe(batch.length);
  });

  it('when delivery fails, then the id is released: the request fails and a retry delivers it', async () => {
    const store = new MemoryDedupeStore({ ttlMs: 60_000, maxEntries: 100 });
    const published: string[] = [];
    let failNext = true;
    const ingest = createPublishOnce({
      dedupe: store,
      publisher: {
        publish: (n) => {
          if (failNext) {
            failNext = false;
            throw new Error('delivery down');
          }
          published.push(n.id);
        },
      },
    });
    const [first] = expectedFor('comments.json');
    if (first === undefined) throw new Error('comments.json has no notification');

    await expect(ingest([first], 0)).rejects.toThrow('delivery down');
    expect(published).toEqual([]);
    // Meta's retry of the same POST is delivered (not taken for a duplicate), and a third copy is a duplicate.
    expect(await ingest([first], 0)).toMatchObject({ result: 'accepted', delivered: [first.id] });
    expect(await ingest([first], 0)).toMatchObject({ result: 'duplicate' });
    expect(published).toEqual([first.id]);
  });

  it('when a batch repeats ids already seen, then only the new items are delivered, in order', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const batch = JSON.parse(fixtureBytes('batched_changes.json').toString('utf8')) as {
      entry: { id: string; time: number; changes: unknown[] }[];
    };
    const [entry] = batch.entry;
    if (entry === undefined) throw new Error('batched_changes.json has no entry');
    const expected = expectedFor('batched_changes.json');

    // The first and the third item of the batch arrive alone first, as an earlier delivery would have brought them.
    await postSigned(srv.url, envelopeOfChanges(entry.id, entry.time, [entry.changes[0], entry.changes[2]]));
    await all.until(2);
    const before = await webhookCounts(srv.url);
    const res = await postSigned(srv.url, fixtureBytes('batched_changes.json'));

    expect(res.status).toBe(200);
    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ accepted: 1 });
    const ids = expected.map((n) => n.id);
    await expectOnlyThenControl(srv.url, all, 0, [ids[0], ids[2], ids[1], ids[3]] as string[]);
    expect(all.events.slice(2, 4)).toEqual([expected[1], expected[3]]);
  });

  it('when the same id comes twice in one POST, then it is delivered once', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const change = { field: 'comments', value: { from: { id: '1', username: 'a' }, media: { id: '2' }, id: '3', text: 'x' } };

    expect((await postSigned(srv.url, envelopeOfChanges(ACCOUNT, 1767620100, [change, change]))).status).toBe(200);

    await expectOnlyThenControl(srv.url, all, 0, ['3']);
  });

  it('when DEDUPE_TTL_MS has passed, then the same id is delivered again', async () => {
    // A window wide enough that the duplicate below lands inside it on a loaded machine.
    const TTL_MS = 3000;
    const srv = await freshServer({ DEDUPE_TTL_MS: String(TTL_MS) });
    const all = await watcher(srv.url);
    const body = fixtureBytes('comments.json');
    const id = '17869210483201944';

    const firstAt = Date.now();
    await postSigned(srv.url, body);
    await all.arrival(id);
    // Within the window (the control comes right after): a duplicate.
    await postSigned(srv.url, body);
    const control = await sendControl(srv.url, [all]);
    expect(all.ids).toEqual([id, control.id]);
    expect(Date.now() - firstAt, 'the duplicate must have been posted within the window').toBeLessThan(TTL_MS);

    // Bounded poll: re-post until it is delivered again, each try waiting for the event itself. Duplicates within the
    // window do not extend it (the window runs from the delivery).
    const deadline = Date.now() + TTL_MS + 10_000;
    let again: string | undefined;
    while (again === undefined && Date.now() < deadline) {
      const from = all.events.length;
      expect((await postSigned(srv.url, body)).status).toBe(200);
      again = await all.until(1, { from, timeoutMs: 250 }).then(
        (events) => events[0]?.id,
        () => undefined,
      );
    }
    expect(again).toBe(id);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(TTL_MS);
  });

  it('when DEDUPE_MAX_ENTRIES is reached, then the oldest id is forgotten first', async () => {
    const srv = await freshServer({ DEDUPE_MAX_ENTRIES: '2' });
    const all = await watcher(srv.url);
    const [a, b, c] = [flatEvent({ id: 'evt_a' }), flatEvent({ id: 'evt_b' }), flatEvent({ id: 'evt_c' })];
    for (const event of [a, b, c]) expect((await postFlat(srv.url, event)).status).toBe(200);
    await all.until(3);

    // b and c are still remembered; a, the oldest, was forgotten to make room for c.
    for (const event of [b, c, a]) expect((await postFlat(srv.url, event)).status).toBe(200);

    await expectOnlyThenControl(srv.url, all, 0, ['evt_a', 'evt_b', 'evt_c', 'evt_a']);
  });
});

describe('the answer does not wait on clients', () => {
  it('when a subscriber never reads, then every POST still answers 200 and the others receive everything', async () => {
    const srv = await freshServer();
    const stalled = await watcher(srv.url, ['*'], 'stalled');
    const reader = await watcher(srv.url, ['*'], 'reader');
    // Stop reading the TCP socket under the stalled client: what the server sends it piles up unread.
    const ws = (stalled.socket.io.engine.transport as unknown as { ws: { pause(): void; resume(): void } }).ws;
    ws.pause();
    const text = 'x'.repeat(90_000);
    const events = Array.from({ length: 20 }, (_, i) => flatEvent({ id: `big_${i}`, comment: { text } }));
    try {
      for (const event of events) {
        const res = await postFlat(srv.url, event);
        expect(res.status).toBe(200);
        expect(res.text).toBe('EVENT_RECEIVED');
      }

      expect(stalled.events).toHaveLength(0);
      const ids = events.map((e) => e.id);
      expect((await reader.until(events.length)).map((n) => n.id)).toEqual(ids);
      // Nothing was dropped for the stalled client: it gets everything, in order, once it reads again.
      ws.resume();
      expect((await stalled.until(events.length)).map((n) => n.id)).toEqual(ids);
    } finally {
      // A peer that never reads holds the server's WebSocket close handshake for ws's 30 s close timeout.
      ws.resume();
    }
  });
});

describe('instantchat_webhooks_total', () => {
  it('counts accepted, duplicate and unknown-shape POSTs by result', async () => {
    const srv = await freshServer();
    const before = await webhookCounts(srv.url);

    await postSigned(srv.url, fixtureBytes('comments.json'));
    await postSigned(srv.url, fixtureBytes('batched_changes.json'));
    await postSigned(srv.url, fixtureBytes('comments.json'));
    await postSigned(srv.url, '{"object":"page","entry":[]}');

    expect(countDelta(before, await webhookCounts(srv.url))).toEqual({ accepted: 2, duplicate: 1, invalid_body: 1 });
  });
});

describe('dedupe keys', () => {
  it('when one comment is a comment on one account and a mention of another, then both are delivered, once each', async () => {
    const srv = await freshServer();
    const all = await watcher(srv.url);
    const commentOnA = envelopeOfChanges('17841400000000001', 1767609600, [
        { field: 'comments', value: { from: { id: '42', username: 'x' }, media: { id: 'm1' }, id: '17999', text: '@b look' } },
      ]);
      const mentionOfB = envelopeOfChanges('17841400000000002', 1767609600, [
        { field: 'mentions', value: { media_id: 'm1', comment_id: '17999' } },
      ]);
      expect((await postSigned(srv.url, commentOnA)).status).toBe(200);
      expect((await postSigned(srv.url, mentionOfB)).status).toBe(200);
      // Meta's retry of the mention is still a duplicate (positive control of dedupe).
      expect((await postSigned(srv.url, mentionOfB)).status).toBe(200);
      await expectOnlyThenControl(srv.url, all, 0, ['17999', '17999']);
      expect(all.events.slice(0, 2).map((n) => [n.accountId, n.eventType])).toEqual([
        ['17841400000000001', 'comments'],
        ['17841400000000002', 'mentions'],
      ]);
  });
});
