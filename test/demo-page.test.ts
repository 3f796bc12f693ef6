import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runBrowserTests, warnIfBrowserTestsSkipped } from './helpers/browser.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { EXPECTED_NOTIFICATIONS } from './fixtures/instagram/expected.js';
import { fixtureBytes, flatEvent, postFlat, postSigned } from './helpers/webhooks.js';

const ACCOUNT = '17841400000000001';
const OTHER_ACCOUNT = '17841400000000999';
const WAIT_MS = 5000;

describe('the demo page is served at / only when DEMO_PAGE is on', () => {
  it('when DEMO_PAGE=true, then / serves the page, its scripts and style, and the SDK bundle, under a strict CSP', async () => {
    const srv = await startServer({ DEMO_PAGE: 'true' });
    try {
      const page = await request(srv.url).get('/');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<title>InstantChat notifications');
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      // No inline code: every script and style is a file of the same origin.
      expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(page.text).not.toMatch(/<style|\sstyle=/);
      // The page runs on the SDK's browser bundle, not on a Socket.IO client of its own.
      expect(page.text).toContain('<script src="/client/instantchat-client.js" defer></script>');
      expect(page.text).not.toContain('/socket.io/socket.io.js');

      for (const [path, type] of [
        ['/demo.js', /javascript/],
        ['/describe-notification.js', /javascript/],
        ['/demo.css', /^text\/css/],
        ['/client/instantchat-client.js', /javascript/],
      ] as const) {
        const res = await request(srv.url).get(path);
        expect(res.status, path).toBe(200);
        expect(res.headers['content-type'], path).toMatch(type);
      }
    } finally {
      await srv.stop();
    }
  });

  it('when DEMO_PAGE=false, then / and the page files answer 404 not_found while the API still works', async () => {
    const srv = await startServer({ DEMO_PAGE: 'false' });
    try {
      for (const path of ['/', '/index.html', '/demo.js']) {
        const res = await request(srv.url).get(path);
        expect(res.status, path).toBe(404);
        expect(res.body.error, path).toBe('not_found');
      }
      expect((await request(srv.url).get('/healthz')).status).toBe(200);
    } finally {
      await srv.stop();
    }
  });
});

describe('what a card says', () => {
  type Describe = (n: unknown) => { kind: 'text' | 'description'; line: string };
  const load = async () => (await import('../public/describe-notification.js' as string)) as { describeNotification: Describe };

  it('when a notification has no text (mentions, story insights, reads, handovers, ...), then its card describes it from its details', async () => {
    const { describeNotification } = await load();
    const all = Object.values(EXPECTED_NOTIFICATIONS).flat();
    for (const n of all) {
      const { kind, line } = describeNotification(n);
      expect(line, `${n.eventType} ${n.id}`).not.toBe('No text');
      expect(line.length, n.id).toBeGreaterThan(3);
      if (n.content !== undefined && n.eventType !== 'message_reactions') expect(kind, n.id).toBe('text');
    }
    const of = (file: string, index = 0) => describeNotification(EXPECTED_NOTIFICATIONS[file]?.[index]).line;
    expect(of('mentions.json')).toBe('Mentioned you in a comment on media …24117851');
    expect(of('story_insights.json')).toBe(
      'Story …44455566 insights: reach 44 · exits 3 · replies 0 · taps forward 4 · taps back 3 · impressions n/a',
    );
    expect(of('messaging_seen.json')).toMatch(/^Seen your message …/);
    expect(of('messaging_handover.json')).toBe(
      'Conversation passed from app 1021445566778899 to app 2637744556677889 (escalate_to_human)',
    );
    expect(of('messaging_handover_take_request.json', 1)).toBe('App 2637744556677889 asks for the conversation (cliente_pediu_humano)');
    expect(of('message_reactions.json')).toMatch(/^Reacted \u2764\ufe0f to message …/);
    expect(of('messages_attachments.json')).toBe('Sent an image, a video');
    // Only a notification with nothing at all to say says so.
    expect(describeNotification({ eventType: 'comments', details: {} }).line).toBe('No text');
  });
});

warnIfBrowserTestsSkipped('test/demo-page.test.ts browser tests (demo page in Chromium)');

describe.skipIf(!runBrowserTests)('the demo page in Chromium', () => {
  let srv: RunningServer;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let problems: string[];

  beforeAll(async () => {
    srv = await startServer({ DEMO_PAGE: 'true' });
    browser = await launchChromium();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
  });

  /** A fresh page that records console errors, uncaught exceptions and CSP violations. */
  async function openPage(url: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
    context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
    const page = await context.newPage();
    problems = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    await page.goto(url.includes('#') ? url : `${url}/`);
    return page;
  }

  async function connectWith(page: Page, token: string): Promise<void> {
    await page.getByLabel('Token (JWT)').fill(token);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
  }

  const statusIs = (page: Page, text: string) => page.locator('#status-text').filter({ hasText: text }).waitFor({ timeout: WAIT_MS });
  const cards = (page: Page) => page.locator('#feed > li');
  const card = (page: Page, text: string) => cards(page).filter({ hasText: text });

  it('when a user pastes a token, connects and ticks comments, then a delivered webhook is rendered newest first', async () => {
    const page = await openPage(srv.url);
    await connectWith(page, mintToken({ userId: 'alice', accountIds: [ACCOUNT] }, { expiresIn: 3600 }));
    await statusIs(page, 'Connected as alice');
    // The token as the SDK decodes it: its expiry, an hour from now.
    expect(await page.locator('#fact-expiry').textContent()).toMatch(/^expires at .+ \(in (60 min|1 h)\)$/);
    expect(await page.locator('#fact-accounts').textContent()).toBe(ACCOUNT);

    await page.getByRole('checkbox', { name: 'comments', exact: true }).check();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: comments' }).waitFor({ timeout: WAIT_MS });

    // Not entitled, not subscribed, then the one that must arrive: delivery is in order, so once the last is shown
    // the first two would have been too.
    expect((await postFlat(srv.url, flatEvent({ accountId: OTHER_ACCOUNT, comment: { text: 'other account' } }))).status).toBe(200);
    const dm = flatEvent({ eventType: 'messages', comment: undefined, message: { text: 'a DM' } });
    expect((await postFlat(srv.url, dm)).status).toBe(200);
    const first = 'Great post! <b>not bold</b>';
    const shownFirst = flatEvent({ comment: { text: first }, sender: { id: '111', username: 'marta' } });
    expect((await postFlat(srv.url, shownFirst)).status).toBe(200);
    await card(page, first).waitFor({ timeout: WAIT_MS });
    const second = 'Second comment, shown on top';
    expect((await postFlat(srv.url, flatEvent({ comment: { text: second } }))).status).toBe(200);
    await card(page, second).waitFor({ timeout: WAIT_MS });

    expect(await cards(page).count()).toBe(2);
    expect(await cards(page).first().locator('.text').textContent()).toBe(second);
    const shown = card(page, first);
    expect(await shown.locator('.badge').textContent()).toBe('comments');
    // Server text is shown as text: markup in it is never parsed.
    expect(await shown.locator('.text').textContent()).toBe(first);
    expect(await shown.locator('.text b').count()).toBe(0);
    expect(await shown.locator('.sender').textContent()).toBe('From @marta (111)');
    expect(await shown.locator('.account').textContent()).toBe(`Account ${ACCOUNT}`);
    expect(await shown.locator('time').getAttribute('datetime')).toBe('2024-01-01T12:00:00.000Z');
    expect(await page.locator('#feed-count').textContent()).toBe('2');
    expect(await page.locator('#feed').getAttribute('aria-live')).toBe('polite');

    await page.screenshot({ path: 'test-artifacts/demo-page.png', fullPage: true });
    await page.setViewportSize({ width: 375, height: 812 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: 'test-artifacts/demo-page-375.png', fullPage: true });

    expect(problems).toEqual([]);
  });

  it('when a type is unticked, then it stops arriving while others do, and history brings back what was missed', async () => {
    const page = await openPage(srv.url);
    await connectWith(page, mintToken({ userId: 'bob', accountIds: [ACCOUNT] }, { expiresIn: 3600 }));
    await statusIs(page, 'Connected as bob');
    const comments = page.getByRole('checkbox', { name: 'comments', exact: true });
    await comments.check();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: comments' }).waitFor({ timeout: WAIT_MS });
    await comments.uncheck();
    await page.getByRole('checkbox', { name: 'messages', exact: true }).check();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: messages' }).waitFor({ timeout: WAIT_MS });

    const missed = `missed comment ${Date.now()}`;
    await postFlat(srv.url, flatEvent({ comment: { text: missed } }));
    const dm = `a direct message ${Date.now()}`;
    await postFlat(srv.url, flatEvent({ eventType: 'messages', comment: undefined, message: { text: dm } }));
    await card(page, dm).waitFor({ timeout: WAIT_MS });
    expect(await card(page, missed).count()).toBe(0);

    await page.getByRole('button', { name: 'Load history' }).click();
    await card(page, missed).waitFor({ timeout: WAIT_MS });
    // History never duplicates what is already shown.
    expect(await card(page, dm).count()).toBe(1);
    expect(problems).toEqual([]);
  });

  it('when the token is bad, then the page says why the connection was refused', async () => {
    const page = await openPage(srv.url);
    await connectWith(page, mintToken({ userId: 'carol', accountIds: [ACCOUNT] }, { secret: 'not-the-server-secret' }));
    await statusIs(page, 'Connection refused: Invalid token');
    expect(await page.getByRole('checkbox', { name: 'comments', exact: true }).isDisabled()).toBe(true);

    await connectWith(page, mintToken({ userId: 'carol', accountIds: [ACCOUNT] }, { expiresIn: -60 }));
    await statusIs(page, 'Connection refused: Token expired');
  });

  it('when the server shuts down, then the page shows server_shutdown and reconnects to the server that comes back', async () => {
    const first = await startServer({ DEMO_PAGE: 'true' });
    let second: RunningServer | undefined;
    try {
      // The token may come in the URL fragment (never sent to the server): the page fills it in, connects, and drops it.
      const token = mintToken({ userId: 'dave', accountIds: ['*'] }, { expiresIn: 3600 });
      const page = await openPage(`${first.url}/#token=${token}`);
      await statusIs(page, 'Connected as dave');
      expect(await page.evaluate(() => location.hash)).toBe('');
      expect(await page.locator('#fact-accounts').textContent()).toBe('*');
      await page.getByRole('checkbox', { name: 'mentions', exact: true }).check();
      await page.locator('#subscribed').filter({ hasText: 'Subscribed to: mentions' }).waitFor({ timeout: WAIT_MS });

      await first.stop();
      await page.locator('#messages').filter({ hasText: 'Server shutting down' }).waitFor({ timeout: WAIT_MS });
      await statusIs(page, 'reconnecting');

      // A restart on the same address: the page comes back on its own and restores its subscriptions.
      second = await startServer({ DEMO_PAGE: 'true', PORT: new URL(first.url).port });
      await statusIs(page, 'Connected as dave');
      await page.locator('#subscribed').filter({ hasText: 'Subscribed to: mentions' }).waitFor({ timeout: WAIT_MS });
      await postFlat(second.url, flatEvent({ eventType: 'mentions', comment: { text: 'after the restart' } }));
      await card(page, 'after the restart').waitFor({ timeout: WAIT_MS });
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  it.each([
    ['socketio', 'Socket.IO', /^42\["webhook_event",/],
    ['websocket', 'Raw WebSocket', /^\{"type":"webhook_event","payload":/],
  ] as const)('when the page connects over %s through the SDK, then a webhook appears and the frame log shows it raw', async (transport, label, frame) => {
    const page = await openPage(srv.url);
    await page.getByLabel(label, { exact: true }).check();
    await connectWith(page, mintToken({ userId: `frames-${transport}`, accountIds: [ACCOUNT] }, { expiresIn: 600 }));
    await statusIs(page, `Connected as frames-${transport}`);
    expect(await page.locator('#fact-transport').textContent()).toBe(label);
    expect(await page.locator('#fact-expiry').textContent()).toMatch(/^expires at .+ \(in 10 min\)$/);
    await page.getByRole('checkbox', { name: 'comments', exact: true }).check();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: comments' }).waitFor({ timeout: WAIT_MS });

    const text = `over ${transport}`;
    const event = flatEvent({ comment: { text } });
    expect((await postFlat(srv.url, event)).status).toBe(200);
    await card(page, text).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#fact-last-seen').textContent()).toBe(event.id);
    const frames = await page.locator('#frames code').allTextContents();
    const delivered = frames.find((f) => f.includes(event.id as string));
    expect(delivered).toMatch(frame);
    // The SDK's own traffic is there too: its subscribe and its heartbeats.
    expect(frames.some((f) => f.includes('subscribe'))).toBe(true);
    expect(frames.some((f) => f.includes('heartbeat'))).toBe(true);
    await page.screenshot({ path: `test-artifacts/demo-page-${transport}.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('when one notification is very long, then it wraps inside its card and no card gets wider; on a phone the feed comes before folded chips', async () => {
    const page = await openPage(srv.url);
    await connectWith(page, mintToken({ userId: 'wide', accountIds: ['*'] }, { expiresIn: 600 }));
    await statusIs(page, 'Connected as wide');
    await page.getByRole('checkbox', { name: 'comments', exact: true }).check();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: comments' }).waitFor({ timeout: WAIT_MS });
    const long = `https://example.com/${'x'.repeat(3000)}`;
    expect((await postFlat(srv.url, flatEvent({ comment: { text: 'a short one' } }))).status).toBe(200);
    const longEvent = flatEvent({ comment: { text: long }, sender: { id: '1'.repeat(200), username: 'y'.repeat(200) } });
    expect((await postFlat(srv.url, longEvent)).status).toBe(200);
    await card(page, long.slice(0, 40)).waitFor({ timeout: WAIT_MS });
    await card(page, long.slice(0, 40)).locator('summary').click();

    const widths = async () =>
      page.evaluate(() => ({
        feed: document.getElementById('feed')?.getBoundingClientRect().width ?? 0,
        cards: Array.from(document.querySelectorAll('#feed > li'), (li) => li.getBoundingClientRect().width),
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      }));
    const wide = await widths();
    expect(wide.cards).toHaveLength(2);
    for (const width of wide.cards) expect(width).toBeCloseTo(wide.feed, 0);
    expect(wide.feed).toBeLessThan(1280);
    expect(wide.overflow).toBe(0);
    await page.screenshot({ path: 'test-artifacts/demo-page-long.png', fullPage: true });

    // A phone, from a fresh load: the twelve chips are folded, and the feed starts within the first screen.
    const phone = await openPage(`${srv.url}/#token=${mintToken({ userId: 'phone', accountIds: ['*'] }, { expiresIn: 600 })}`, {
      width: 375,
      height: 812,
    });
    await statusIs(phone, 'Connected as phone');
    expect(await phone.locator('#types-details').getAttribute('open')).toBeNull();
    expect(await phone.getByRole('checkbox', { name: 'comments', exact: true }).isVisible()).toBe(false);
    const layout = await phone.evaluate(() => ({
      feedTop: document.querySelector('.feed-panel')?.getBoundingClientRect().top ?? Infinity,
      typesBottom: document.querySelector('.types-panel')?.getBoundingClientRect().bottom ?? 0,
      framesTop: document.querySelector('.frames-panel')?.getBoundingClientRect().top ?? 0,
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    }));
    expect(layout.feedTop).toBeGreaterThan(layout.typesBottom);
    expect(layout.feedTop).toBeLessThan(812);
    expect(layout.framesTop).toBeGreaterThan(layout.feedTop);
    expect(layout.overflow).toBe(0);
    // Unfolding them still works.
    await phone.locator('#types-details summary').click();
    await phone.getByRole('checkbox', { name: 'comments', exact: true }).check();
    await phone.locator('#subscribed').filter({ hasText: 'Subscribed to: comments' }).waitFor({ timeout: WAIT_MS });
    await phone.screenshot({ path: 'test-artifacts/demo-page-375-fresh.png', fullPage: true });
  });

  it('when mentions, story insights, reads and handovers arrive from Meta, then their cards say what happened', async () => {
    const page = await openPage(srv.url);
    await connectWith(page, mintToken({ userId: 'meta', accountIds: ['*'] }, { expiresIn: 600 }));
    await statusIs(page, 'Connected as meta');
    await page.getByRole('button', { name: 'All', exact: true }).click();
    await page.locator('#subscribed').filter({ hasText: 'Subscribed to: all 12 event types' }).waitFor({ timeout: WAIT_MS });
    const expected: [string, string][] = [
      ['mentions.json', 'Mentioned you in a comment on media'],
      ['story_insights.json', 'reach 44 · exits 3'],
      ['messaging_seen.json', 'Seen your message'],
      ['messaging_handover.json', 'Conversation passed from app 1021445566778899 to app 2637744556677889'],
    ];
    for (const [fixture] of expected) expect((await postSigned(srv.url, fixtureBytes(fixture))).status, fixture).toBe(200);
    for (const [fixture, words] of expected) {
      await card(page, words).waitFor({ timeout: WAIT_MS });
      expect(await card(page, words).count(), fixture).toBe(1);
    }
    expect(await page.locator('#feed .text').filter({ hasText: 'No text' }).count()).toBe(0);
    await page.screenshot({ path: 'test-artifacts/demo-page-meta-cards.png', fullPage: true });
    expect(problems).toEqual([]);
  });
});
