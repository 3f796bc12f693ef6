import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runBrowserTests, warnIfBrowserTestsSkipped } from './helpers/browser.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { mintToken } from './helpers/tokens.js';
import { flatEvent, postFlat } from './helpers/webhooks.js';

const ACCOUNT = '17841400000000001';
const OTHER_ACCOUNT = '17841400000000999';
const WAIT_MS = 5000;

describe('the demo page is served at / only when DEMO_PAGE is on', () => {
  it('when DEMO_PAGE=true, then / serves the page, its script and style, and the Socket.IO client, under a strict CSP', async () => {
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

      for (const [path, type] of [
        ['/demo.js', /javascript/],
        ['/demo.css', /^text\/css/],
        ['/socket.io/socket.io.js', /javascript/],
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
    await page.locator('#fact-heartbeat').filter({ hasText: 'round trip' }).waitFor({ timeout: WAIT_MS });
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
});
