import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, notificationSchema } from '../src/notifications/notification.js';
import { normalizeWebhook, SKIP_REASONS } from '../src/notifications/normalize/index.js';
import type { NormalizeResult, SkipReason } from '../src/notifications/normalize/index.js';
import { EXPECTED_NOTIFICATIONS, EXPECTED_SKIPPED, EXPECTED_SKIPS } from './fixtures/instagram/expected.js';

const FIXTURES = new URL('./fixtures/instagram/', import.meta.url);
const FIXTURE_NAMES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json'))
  .sort();
const readFixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

/** Far from every fixture's own time, so a notification stamped with the arrival time stands out. */
const RECEIVED_AT = new Date('2030-06-15T08:30:00.000Z');
const RECEIVED_ISO = RECEIVED_AT.toISOString();

const ACCOUNT = '17841405822304914';
const CUSTOMER = '2718459203385561';

type Json = Record<string, unknown>;

/** A messaging-style body with one item; `item` and `entry` override the defaults (a key set `undefined` drops it). */
function dmBody(item: Json = {}, entry: Json = {}): Json {
  const base = { sender: { id: CUSTOMER }, recipient: { id: ACCOUNT }, message: { mid: 'mid.1', text: 'oi' } };
  return { object: 'instagram', entry: [{ id: ACCOUNT, messaging: [{ ...base, ...item }], ...entry }] };
}

/** A changes-style body with one change. */
function changeBody(field: string, value: unknown, entry: Json = {}): Json {
  return { entry: [{ id: ACCOUNT, time: 1767609600, changes: [{ value, field }], ...entry }], object: 'instagram' };
}

const comment = { from: { id: CUSTOMER, username: 'marta.viaja' }, media: { id: '180441' }, id: '1786921', text: 'Oi' };

function single(body: unknown): NormalizeResult['notifications'][number] {
  const result = normalizeWebhook(body, RECEIVED_AT);
  expect(result.notifications).toHaveLength(1);
  const [notification] = result.notifications;
  if (notification === undefined) throw new Error('no notification');
  return notification;
}

/** The result of an envelope whose one item was skipped for `reason`. */
const skippedOne = (reason: SkipReason, kind: string): NormalizeResult => ({
  shape: 'envelope',
  notifications: [],
  skipped: 1,
  skips: [{ reason, kind, count: 1 }],
});

/** Meta's wire form: compact JSON with every non-ASCII UTF-16 unit escaped as lowercase `\uXXXX`. */
const metaSerialize = (value: unknown): string =>
  JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

describe('Instagram fixtures', () => {
  it('when the folder is listed, then every fixture has an expected entry and every entry a fixture', () => {
    expect(FIXTURE_NAMES).toEqual(Object.keys(EXPECTED_NOTIFICATIONS).sort());
    expect(FIXTURE_NAMES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(FIXTURE_NAMES)('%s is stored as Meta sends it: compact, ASCII-escaped, no trailing newline', (name) => {
    const raw = readFixture(name);
    expect(raw.endsWith('\n')).toBe(false);
    expect(/^[\x20-\x7e]*$/.test(raw)).toBe(true);
    expect(metaSerialize(JSON.parse(raw))).toBe(raw);
  });

  it.each(FIXTURE_NAMES)('when %s is normalized, then it gives exactly the expected notifications', (name) => {
    const result = normalizeWebhook(JSON.parse(readFixture(name)), RECEIVED_AT);
    expect(result).toStrictEqual({
      shape: 'envelope',
      notifications: EXPECTED_NOTIFICATIONS[name],
      skipped: EXPECTED_SKIPPED[name] ?? 0,
      skips: EXPECTED_SKIPS[name] ?? [],
    });
    for (const notification of result.notifications) expect(() => notificationSchema.parse(notification)).not.toThrow();
  });

  it('when a fixture is normalized at another arrival time, then ids and timestamps do not move', () => {
    for (const name of FIXTURE_NAMES) {
      const body: unknown = JSON.parse(readFixture(name));
      expect(normalizeWebhook(body, new Date(0))).toStrictEqual(normalizeWebhook(body, RECEIVED_AT));
    }
  });
});

describe('timestamps', () => {
  it.each([
    ['seconds as a number', 1767614400, '2026-01-05T12:00:00.000Z'],
    ['milliseconds as a number', 1767614400127, '2026-01-05T12:00:00.127Z'],
    ['seconds as a numeric string', '1767614400', '2026-01-05T12:00:00.000Z'],
    ['milliseconds as a numeric string', '1767614400127', '2026-01-05T12:00:00.127Z'],
    ['fractional seconds', 1767614400.5, '2026-01-05T12:00:00.500Z'],
    ['10^12 exactly (milliseconds)', 1e12, '2001-09-09T01:46:40.000Z'],
    ['10^12 - 1 as seconds beyond year 9999 (unusable)', 999_999_999_999, RECEIVED_ISO],
    ['an ISO 8601 string', '2026-01-05T12:00:00Z', '2026-01-05T12:00:00.000Z'],
  ])('when the item time is %s, then the timestamp follows the seconds/ms rule', (_label, timestamp, iso) => {
    expect(single(dmBody({ timestamp })).timestamp).toBe(iso);
  });

  it('when the item has its own time, then it wins over entry.time', () => {
    expect(single(dmBody({ timestamp: 1767614400127 }, { time: 1767614999999 })).timestamp).toBe(
      '2026-01-05T12:00:00.127Z',
    );
  });

  it('when a changes value has a string timestamp, then it wins over entry.time', () => {
    const value = { sender: { id: CUSTOMER }, timestamp: '1767614519', message: { mid: 'm' } };
    expect(single(changeBody('messages', value)).timestamp).toBe('2026-01-05T12:01:59.000Z');
  });

  it.each([['soon'], [''], ['12abc'], [-5], [null], [true], [{}], ['1e12']])(
    'when the item time is %j, then entry.time is used instead',
    (timestamp) => {
      expect(single(dmBody({ timestamp }, { time: 1767614400 })).timestamp).toBe('2026-01-05T12:00:00.000Z');
    },
  );

  it('when neither the item nor the entry has a usable time, then the arrival time is used', () => {
    expect(single(dmBody()).timestamp).toBe(RECEIVED_ISO);
    expect(single(dmBody({ timestamp: 'later' }, { time: 'soon' })).timestamp).toBe(RECEIVED_ISO);
    expect(single(changeBody('comments', comment, { time: undefined })).timestamp).toBe(RECEIVED_ISO);
  });

  it('when the arrival time is an invalid date and the item has no time, then the item is skipped, not thrown', () => {
    const invalid = new Date(Number.NaN);
    expect(normalizeWebhook(dmBody(), invalid)).toEqual(skippedOne('no_usable_time', 'messaging.message'));
    expect(normalizeWebhook(dmBody({ timestamp: 1767614400127 }), invalid).notifications).toHaveLength(1);
  });
});

describe('accountId', () => {
  it('when entry.id is set, then it is the account, even where the recipient differs (echoes)', () => {
    const echo = dmBody({ sender: { id: ACCOUNT }, recipient: { id: CUSTOMER }, message: { mid: 'm', is_echo: true } });
    expect(single(echo)).toMatchObject({ accountId: ACCOUNT, sender: { id: ACCOUNT }, details: { isEcho: true } });
  });

  it('when entry.id is "0" (dashboard test), then the recipient is the account and the event is flagged isTest', () => {
    expect(single(dmBody({}, { id: '0' }))).toMatchObject({ accountId: ACCOUNT, details: { isTest: true } });
  });

  it('when entry.id is "0" or the number 0 and there is no recipient, then the sender is the account', () => {
    expect(single(dmBody({ recipient: undefined }, { id: '0' })).accountId).toBe(CUSTOMER);
    expect(single(dmBody({ recipient: undefined }, { id: 0 })).accountId).toBe(CUSTOMER);
    expect(single(changeBody('comments', comment, { id: '0' })).accountId).toBe(CUSTOMER);
  });

  it('when entry.id is missing, then the recipient is the account, without the isTest flag', () => {
    const notification = single(dmBody({}, { id: undefined }));
    expect(notification.accountId).toBe(ACCOUNT);
    expect(notification.details).toBeUndefined();
  });

  it('when a dashboard test names nobody (mentions), then the account stays "0", flagged isTest', () => {
    const mention = changeBody('mentions', { media_id: '1791', comment_id: '1789' }, { id: '0' });
    expect(single(mention)).toMatchObject({ accountId: '0', sender: {}, details: { isTest: true } });
  });

  it('when no account can be named at all, then the item is skipped', () => {
    const body = dmBody({ sender: undefined, recipient: undefined }, { id: undefined });
    expect(normalizeWebhook(body, RECEIVED_AT)).toEqual(skippedOne('missing_account', 'messaging.message'));
  });

  it('when ids arrive as safe integers, then they become strings; unsafe integers are not trusted', () => {
    expect(single(dmBody({ sender: { id: 12334 } }, { id: 17841405822304 }))).toMatchObject({
      accountId: '17841405822304',
      sender: { id: '12334' },
    });
    // 17841405822304914 is past 2^53: JSON.parse already changed its digits.
    const unsafe = single(dmBody({ sender: { id: 2718459203385561000 } }, { id: 17841405822304914 }));
    expect(unsafe.accountId).toBe(ACCOUNT);
    expect(unsafe.sender).toStrictEqual({});
  });
});

describe('the flat shape of the integration guide', () => {
  const flat = { id: 'evt_1', eventType: 'comments', accountId: ACCOUNT, sender: { id: '42', username: 'ana' } };

  it('when it carries message.text, then it gives one notification with that content', () => {
    const body = { ...flat, message: { text: 'Great post!' }, timestamp: '2024-01-01T12:00:00Z' };
    expect(normalizeWebhook(body, RECEIVED_AT)).toStrictEqual({
      shape: 'flat',
      notifications: [
        {
          id: 'evt_1',
          eventType: 'comments',
          accountId: ACCOUNT,
          sender: { id: '42', username: 'ana' },
          content: 'Great post!',
          timestamp: '2024-01-01T12:00:00.000Z',
        },
      ],
      skipped: 0,
      skips: [],
    });
  });

  it('when the text is in comment.text or a top-level content, then it is the content', () => {
    expect(single({ ...flat, comment: { text: 'from comment' } }).content).toBe('from comment');
    expect(single({ ...flat, content: 'top level' }).content).toBe('top level');
    expect(single({ ...flat, message: { text: 'message wins' }, content: 'top level' }).content).toBe('message wins');
  });

  it('when there is no text nor sender, then content is absent and sender is empty', () => {
    const notification = single({ id: 7, eventType: 'messages', accountId: 99 });
    expect(notification).toStrictEqual({
      id: '7',
      eventType: 'messages',
      accountId: '99',
      sender: {},
      timestamp: RECEIVED_ISO,
    });
    expect('content' in notification).toBe(false);
  });

  it.each([
    [1767614400, '2026-01-05T12:00:00.000Z'],
    [1767614400127, '2026-01-05T12:00:00.127Z'],
    ['1767614400', '2026-01-05T12:00:00.000Z'],
    ['2026-01-05T09:00:00.127-03:00', '2026-01-05T12:00:00.127Z'],
    [null, RECEIVED_ISO],
    // Unreadable: the arrival time, as for a missing one (the best reading, rather than dropping the event).
    ['yesterday', RECEIVED_ISO],
    [-5, RECEIVED_ISO],
    [{}, RECEIVED_ISO],
  ])('when the timestamp is %j, then it is %s', (timestamp, iso) => {
    expect(single({ ...flat, timestamp }).timestamp).toBe(iso);
  });

  it.each([
    ['no id', { ...flat, id: undefined }, 'missing_id', 'flat.comments'],
    ['an empty id', { ...flat, id: '' }, 'missing_id', 'flat.comments'],
    ['no accountId', { ...flat, accountId: undefined }, 'missing_account', 'flat.comments'],
    ['an unsafe numeric accountId', { ...flat, accountId: 17841405822304914 }, 'missing_account', 'flat.comments'],
    ['an unknown eventType', { ...flat, eventType: 'feed' }, 'unknown_field', 'flat.feed'],
    ['a non-string eventType', { ...flat, eventType: 3 }, 'unknown_field', 'flat.unreadable'],
  ] as const)('when it has %s, then it is skipped, with the reason %s', (_label, body, reason, kind) => {
    expect(normalizeWebhook(body, RECEIVED_AT)).toEqual({
      shape: 'flat',
      notifications: [],
      skipped: 1,
      skips: [{ reason, kind, count: 1 }],
    });
  });
});

describe('bodies and items the server does not know', () => {
  it.each([
    ['an empty object', {}],
    ['an array', [{ object: 'instagram', entry: [] }]],
    ['a string', 'EVENT_RECEIVED'],
    ['a number', 42],
    ['null', null],
    ['a Page envelope', { object: 'page', entry: [{ id: '1', time: 1, messaging: [] }] }],
    ['an envelope without entries', { object: 'instagram' }],
    ['an envelope whose entry is not an array', { object: 'instagram', entry: { id: ACCOUNT } }],
    ['an object that is neither shape', { id: '1', accountId: '2' }],
  ])('when the body is %s, then the shape is unknown and nothing is delivered', (_label, body) => {
    expect(normalizeWebhook(body, RECEIVED_AT)).toEqual({ shape: 'unknown', notifications: [], skipped: 0, skips: [] });
  });

  it('when an envelope has no entries, then it is an envelope with nothing to deliver', () => {
    expect(normalizeWebhook({ object: 'instagram', entry: [] }, RECEIVED_AT)).toEqual({
      shape: 'envelope',
      notifications: [],
      skipped: 0,
      skips: [],
    });
  });

  // Each unusable item beside the smallest change that makes it usable (the positive control), with its reason.
  it.each([
    ['a field that is no event type', changeBody('feed', comment), changeBody('comments', comment), 'unknown_field', 'changes.feed'],
    [
      'a messaging kind that is no event type',
      dmBody({ message: undefined, delivery: { mid: 'm' } }),
      dmBody({ message: undefined, read: { mid: 'm' } }),
      'unknown_kind',
      'messaging.delivery',
    ],
    [
      'a messaging field whose value is of another kind',
      changeBody('messages', { sender: { id: '1' }, read: { mid: 'm' } }),
      changeBody('messaging_seen', { sender: { id: '1' }, read: { mid: 'm' } }),
      'field_mismatch',
      'changes.messages',
    ],
    [
      'a change without a value',
      changeBody('comments', undefined),
      changeBody('comments', comment),
      'missing_value',
      'changes.comments',
    ],
    ['an entry that is not an object', { object: 'instagram', entry: ['oops'] }, dmBody(), 'not_an_object', 'entry'],
    [
      'an entry with no item list',
      { object: 'instagram', entry: [{ id: ACCOUNT, time: 1, feed: [comment] }] },
      { object: 'instagram', entry: [{ id: ACCOUNT, time: 1, changes: [{ field: 'comments', value: comment }] }] },
      'no_item_list',
      'entry',
    ],
    [
      'an item list that is not an array',
      { object: 'instagram', entry: [{ id: ACCOUNT, changes: { field: 'comments', value: comment } }] },
      { object: 'instagram', entry: [{ id: ACCOUNT, changes: [{ field: 'comments', value: comment }] }] },
      'item_list_not_array',
      'changes',
    ],
    ['a message without mid', dmBody({ message: { text: 'hi' } }), dmBody({ message: { mid: 'm', text: 'hi' } }), 'missing_id', 'messaging.message'],
    ['a message that is not an object', dmBody({ message: 'hi' }), dmBody({ message: { mid: 'hi' } }), 'unknown_kind', 'messaging.message'],
    ['a comment without id', changeBody('comments', { ...comment, id: undefined }), changeBody('comments', comment), 'missing_id', 'changes.comments'],
    [
      'a read without mid',
      dmBody({ message: undefined, read: { watermark: 1 } }),
      dmBody({ message: undefined, read: { mid: 'm' } }),
      'missing_id',
      'messaging.read',
    ],
    [
      'a field name that is not one of Meta\'s',
      changeBody('<script>', comment),
      changeBody('comments', comment),
      'unknown_field',
      'changes.unreadable',
    ],
  ] as const)('when an envelope holds %s, then it is skipped and counted with its reason', (_label, bad, good, reason, kind) => {
    expect(normalizeWebhook(bad, RECEIVED_AT)).toEqual(skippedOne(reason, kind));
    expect(normalizeWebhook(good, RECEIVED_AT)).toMatchObject({ shape: 'envelope', skipped: 0, skips: [] });
    expect(normalizeWebhook(good, RECEIVED_AT).notifications).toHaveLength(1);
  });

  it('when known and unknown items are mixed, then the known ones are delivered in body order', () => {
    const body = {
      object: 'instagram',
      entry: [
        {
          id: ACCOUNT,
          time: 1767609600,
          changes: [
            { field: 'feed', value: {} },
            { field: 'comments', value: comment },
          ],
        },
        { id: ACCOUNT, messaging: [{ sender: { id: CUSTOMER }, timestamp: 1767614400127, message: { mid: 'm2' } }] },
      ],
    };
    const result = normalizeWebhook(body, RECEIVED_AT);
    expect(result.notifications.map((n) => n.id)).toEqual(['1786921', 'm2']);
    expect(result.skipped).toBe(1);
  });

  it('when a message carries unknown keys, then only the documented fields reach details', () => {
    const body = dmBody({ secret: 'x', message: { mid: 'm', text: 'oi', access_token: 'EAAB', is_echo: 'yes' } });
    expect(single(body)).toStrictEqual({
      id: 'm',
      eventType: 'messages',
      accountId: ACCOUNT,
      sender: { id: CUSTOMER },
      content: 'oi',
      timestamp: RECEIVED_ISO,
    });
  });

  it('when an attachment URL is not http(s) or an attachment has no type, then it is not passed on', () => {
    const attachments = [
      { type: 'image', payload: { url: 'javascript:alert(1)' } },
      { payload: { url: 'https://cdn.example/a.jpg' } },
      { type: 'video', payload: { url: 'https://cdn.example/v.mp4' } },
    ];
    expect(single(dmBody({ message: { mid: 'm', attachments } })).details).toStrictEqual({
      attachments: [{ type: 'image' }, { type: 'video', url: 'https://cdn.example/v.mp4' }],
    });
  });

  it('when a postback has no mid, then its id is a composite of sender and time', () => {
    const body = dmBody({ timestamp: 1767614610127, message: undefined, postback: { title: 'Ver', payload: 'P' } });
    expect(single(body)).toMatchObject({ id: `postback:${CUSTOMER}:1767614610127`, content: 'Ver' });
  });
});

describe('items that lack only an optional part: delivered with what they have', () => {
  const kinds = { message: undefined };
  it.each([
    [
      'a read with read.mid but no sender',
      dmBody({ ...kinds, sender: undefined, read: { mid: 'm' } }),
      { id: 'm:read', eventType: 'messaging_seen', accountId: ACCOUNT, sender: {}, details: { targetMid: 'm' } },
    ],
    [
      'a reaction without sender',
      dmBody({ ...kinds, sender: undefined, timestamp: 1767614400127, reaction: { mid: 'm', action: 'react', emoji: '❤' } }),
      { id: expect.stringMatching(/^m:react:[\w-]{11}$/), eventType: 'message_reactions', sender: {}, content: '❤' },
    ],
    [
      'a reaction with no time anywhere',
      dmBody({ ...kinds, reaction: { mid: 'm', action: 'unreact' } }),
      { id: expect.stringMatching(/^m:unreact:[\w-]{11}$/), sender: { id: CUSTOMER }, timestamp: RECEIVED_ISO },
    ],
    [
      'an edit without num_edit',
      dmBody({ ...kinds, message_edit: { mid: 'm', text: 'fixed' } }),
      { id: expect.stringMatching(/^m:edit:[\w-]{11}$/), eventType: 'message_edit', content: 'fixed', details: { targetMid: 'm' } },
    ],
    [
      'a postback without mid nor sender',
      dmBody({ ...kinds, sender: undefined, postback: { title: 'Ver', payload: 'P' } }),
      { id: expect.stringMatching(/^postback:[\w-]{11}$/), content: 'Ver', details: { payload: 'P' } },
    ],
    [
      'a referral without time',
      dmBody({ ...kinds, referral: { ref: 'ad', source: 'ADS' } }),
      { id: expect.stringMatching(/^referral:[\w-]{11}$/), sender: { id: CUSTOMER }, details: { ref: 'ad', source: 'ADS' } },
    ],
    [
      'an opt-in without sender',
      dmBody({ ...kinds, sender: undefined, timestamp: 1767614400127, optin: { type: 'notification_messages' } }),
      { id: expect.stringMatching(/^optin:[\w-]{11}$/), eventType: 'messaging_optins' },
    ],
    [
      'a handover without sender',
      dmBody({ ...kinds, sender: undefined, timestamp: 1767614400127, pass_thread_control: { new_owner_app_id: '1' } }),
      { id: expect.stringMatching(/^handover:[\w-]{11}$/), details: { action: 'pass_thread_control', newOwnerAppId: '1' } },
    ],
    ['a message without text', dmBody({ message: { mid: 'm' } }), { id: 'm', eventType: 'messages', sender: { id: CUSTOMER } }],
    [
      'a comment without its author',
      changeBody('comments', { ...comment, from: undefined }),
      { id: '1786921', eventType: 'comments', sender: {}, content: 'Oi' },
    ],
    [
      'a mention without comment_id',
      changeBody('mentions', { media_id: '1791' }),
      { id: '1791', eventType: 'mentions', details: { mediaId: '1791' } },
    ],
    [
      'story insights without metrics',
      changeBody('story_insights', { media_id: '1792' }),
      { id: '1792', eventType: 'story_insights', details: { mediaId: '1792' } },
    ],
    [
      'a username longer than the schema allows',
      changeBody('comments', { ...comment, from: { id: CUSTOMER, username: 'x'.repeat(257) } }),
      { id: '1786921', sender: { id: CUSTOMER }, content: 'Oi' },
    ],
    [
      'a text longer than the schema allows',
      dmBody({ message: { mid: 'm', text: 'x'.repeat(100_001) } }),
      { id: 'm', sender: { id: CUSTOMER } },
    ],
  ])('when %s arrives, then it is delivered, not skipped', (_label, body, expected) => {
    const result = normalizeWebhook(body, RECEIVED_AT);
    expect(result).toMatchObject({ skipped: 0, skips: [] });
    expect(result.notifications).toHaveLength(1);
    const [notification] = result.notifications;
    expect(notification).toMatchObject(expected);
    // What it lacks stays absent rather than made up, and the id does not move with the arrival time.
    if (!('content' in expected)) expect(notification).not.toHaveProperty('content');
    if ('sender' in expected && Object.keys(expected.sender).length === 0) expect(notification?.sender).toStrictEqual({});
    expect(normalizeWebhook(body, new Date(0)).notifications[0]?.id).toBe(notification?.id);
  });

  it('when two reactions without sender differ, then their ids differ; the same one retried keeps its id', () => {
    const reaction = (emoji: string) =>
      dmBody({ message: undefined, sender: undefined, timestamp: 1767614400127, reaction: { mid: 'm', action: 'react', emoji } });
    const id = (body: unknown) => single(body).id;
    expect(id(reaction('❤'))).not.toBe(id(reaction('😮')));
    expect(id(reaction('❤'))).toBe(id(JSON.parse(JSON.stringify(reaction('❤')))));
  });

  it('when a read names its sender, then its id is unchanged (<mid>:read:<sender>)', () => {
    expect(single(dmBody({ message: undefined, read: { mid: 'm' } })).id).toBe(`m:read:${CUSTOMER}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Properties: whatever arrives, the normalizer answers, and what it answers is valid.

function expectValid(result: NormalizeResult): void {
  expect(['envelope', 'flat', 'unknown']).toContain(result.shape);
  expect(Number.isSafeInteger(result.skipped) && result.skipped >= 0).toBe(true);
  // Every skipped item has a known reason, and a short kind name (never the item's text).
  expect(result.skips.reduce((sum, s) => sum + s.count, 0)).toBe(result.skipped);
  for (const { reason, kind } of result.skips) {
    expect(Object.keys(SKIP_REASONS)).toContain(reason);
    expect(kind).toMatch(/^[a-z][a-z0-9_.]{0,63}$/);
  }
  for (const notification of result.notifications) expect(() => notificationSchema.parse(notification)).not.toThrow();
}

const exotic = fc.anything({
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withObjectString: true,
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withUnicodeString: true,
});

const anId = fc.oneof(
  fc.constantFrom(ACCOUNT, CUSTOMER, '0', '', 'x'.repeat(600)),
  fc.stringMatching(/^\d{1,20}$/),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.string(),
  fc.constant(null),
);
const aTime = fc.oneof(
  fc.constantFrom(1767614400, 1767614400127, '1767614519', 1e12, 999_999_999_999, -1, '', 'soon'),
  fc.maxSafeInteger(),
  fc.double(),
  fc.stringMatching(/^\d{1,16}$/),
  fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
);
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.integer(), fc.constant(null), fc.constant(''));
const loose = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { requiredKeys: [] });
const party = fc.oneof({ weight: 4, arbitrary: loose({ id: anId, username: text }) }, { weight: 1, arbitrary: exotic });

const attachment = loose({
  type: fc.oneof(fc.constantFrom('image', 'video', 'share', 'ig_post', 'ig_reel', 'story_mention'), text),
  payload: loose({
    url: fc.oneof(fc.webUrl(), fc.constant('javascript:alert(1)'), text),
    title: text,
    ig_post_media_id: anId,
    reel_video_id: anId,
  }),
});
const referral = loose({ ref: text, source: text, type: text, ad_id: anId });
const handover = loose({
  previous_owner_app_id: anId,
  new_owner_app_id: anId,
  requested_owner_app_id: anId,
  metadata: text,
});

/** Each messaging kind with plausible payload keys, plus kinds the server does not know. */
const KIND_PAYLOADS: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  message: loose({
    mid: anId,
    text,
    is_echo: fc.oneof(fc.boolean(), text),
    is_deleted: fc.boolean(),
    is_unsupported: fc.boolean(),
    reply_to: loose({ mid: anId, story: loose({ id: anId, url: text }) }),
    quick_reply: loose({ payload: text }),
    attachments: fc.oneof(fc.array(attachment, { maxLength: 3 }), exotic),
  }),
  message_edit: loose({
    mid: anId,
    num_edit: fc.oneof(fc.nat(), fc.integer(), fc.stringMatching(/^\d{1,3}$/), text),
    text,
  }),
  reaction: loose({
    mid: anId,
    action: fc.oneof(fc.constantFrom('react', 'unreact'), text),
    reaction: text,
    emoji: text,
  }),
  read: loose({ mid: anId }),
  postback: loose({ mid: anId, title: text, payload: text, referral }),
  referral,
  optin: loose({ type: text, payload: text, title: text, notification_messages_token: text }),
  pass_thread_control: handover,
  take_thread_control: handover,
  request_thread_control: handover,
  delivery: exotic,
};

const messagingItem = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...Object.keys(KIND_PAYLOADS)),
        loose({ sender: party, recipient: party, timestamp: aTime }),
      )
      .chain(([kind, base]) =>
        (KIND_PAYLOADS[kind] ?? exotic).map((payload): unknown => ({ ...base, [kind]: payload })),
      ),
  },
  { weight: 1, arbitrary: exotic },
);

const changeValue = fc.oneof(
  loose({
    from: loose({ id: anId, username: text, self_ig_scoped_id: anId }),
    media: loose({ id: anId, media_product_type: text }),
    id: anId,
    parent_id: anId,
    text,
    timestamp: aTime,
  }),
  loose({ media_id: anId, comment_id: anId }),
  loose({ media_id: anId, reach: fc.oneof(fc.integer(), fc.double()), taps_forward: fc.integer(), impressions: text }),
  messagingItem,
  exotic,
);
const changeItem = fc.oneof(
  { weight: 9, arbitrary: loose({ field: fc.constantFrom(...EVENT_TYPES, 'feed', ''), value: changeValue }) },
  { weight: 1, arbitrary: exotic },
);
const entry = fc.oneof(
  {
    weight: 9,
    arbitrary: loose({
      id: anId,
      time: aTime,
      changes: fc.array(changeItem, { maxLength: 4 }),
      messaging: fc.array(messagingItem, { maxLength: 4 }),
      standby: fc.array(messagingItem, { maxLength: 2 }),
    }),
  },
  { weight: 1, arbitrary: exotic },
);
const envelope = fc.record({ object: fc.constant('instagram'), entry: fc.array(entry, { maxLength: 4 }) });

/** Items an envelope holds by the counting rule: each list item, each non-array list, each entry without a list. */
function itemCount(body: { entry: readonly unknown[] }): number {
  let count = 0;
  for (const e of body.entry) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      count += 1;
      continue;
    }
    const lists = ['changes', 'messaging', 'standby'].filter((key) => Object.hasOwn(e, key));
    if (lists.length === 0) count += 1;
    for (const key of lists) {
      const list: unknown = (e as Json)[key];
      count += Array.isArray(list) ? list.length : 1;
    }
  }
  return count;
}

describe('properties', () => {
  it('for any JSON text, normalizing its value never throws and yields only valid notifications', () => {
    fc.assert(
      fc.property(fc.json(), (json) => {
        expectValid(normalizeWebhook(JSON.parse(json), RECEIVED_AT));
      }),
      { numRuns: 500 },
    );
  });

  it('for any value at all, normalizing never throws and yields only valid notifications', () => {
    fc.assert(
      fc.property(exotic, (value) => {
        expectValid(normalizeWebhook(value, RECEIVED_AT));
      }),
      { numRuns: 500 },
    );
  });

  it('for envelope-like bodies, each item is delivered or counted once, validly, ids independent of arrival', () => {
    fc.assert(
      fc.property(envelope, (body) => {
        const result = normalizeWebhook(body, RECEIVED_AT);
        expectValid(result);
        expect(result.shape).toBe('envelope');
        expect(result.notifications.length + result.skipped).toBe(itemCount(body));
        const later = normalizeWebhook(body, new Date(RECEIVED_AT.getTime() + 60_000));
        expect(later.notifications.map((n) => n.id)).toEqual(result.notifications.map((n) => n.id));
      }),
      { numRuns: 1000 },
    );
  });

  it('for flat-like bodies, the body is one notification or one skipped item', () => {
    const flatBody = fc.record(
      {
        id: anId,
        eventType: fc.oneof(fc.constantFrom(...EVENT_TYPES, 'feed'), text),
        accountId: anId,
        sender: party,
        message: loose({ text }),
        comment: loose({ text }),
        content: text,
        timestamp: aTime,
      },
      { requiredKeys: ['eventType'] },
    );
    fc.assert(
      fc.property(flatBody, (body) => {
        const result = normalizeWebhook(body, RECEIVED_AT);
        expectValid(result);
        expect(result.shape).toBe('flat');
        expect(result.notifications.length + result.skipped).toBe(1);
      }),
      { numRuns: 500 },
    );
  });
});
