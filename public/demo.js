// The demo page, on the client SDK's browser bundle (/client/instantchat-client.js, the global InstantChat): the SDK
// does the heartbeats, token refresh, reconnects and catch-up; this file only shows what it reports. Server data only
// ever reaches the page through textContent (never innerHTML), and nothing here is inline because of the page's
// Content-Security-Policy.
import { describeNotification, notificationFlags } from './describe-notification.js';

/** SPEC's known event types, grouped the way Instagram's webhook fields are. */
const EVENT_GROUPS = [
  { title: 'Posts', types: ['comments', 'live_comments', 'mentions', 'story_insights'] },
  {
    title: 'Direct messages',
    types: [
      'messages',
      'message_reactions',
      'messaging_seen',
      'messaging_postbacks',
      'messaging_referral',
      'messaging_optins',
      'messaging_handover',
      'message_edit',
    ],
  },
];
const ALL_TYPES = EVENT_GROUPS.flatMap((group) => group.types);
const MESSAGE_TYPES = new Set(EVENT_GROUPS[1].types);
const MAX_FEED_ITEMS = 200;
const MAX_MESSAGES = 5;
const MAX_FRAMES = 100;
const MAX_FRAME_CHARS = 400;
const TRANSPORT_NAMES = { socketio: 'Socket.IO', websocket: 'Raw WebSocket' };

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('connect-form'),
  token: $('token'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  status: $('status'),
  statusText: $('status-text'),
  user: $('fact-user'),
  accounts: $('fact-accounts'),
  expiry: $('fact-expiry'),
  transport: $('fact-transport'),
  lastSeen: $('fact-last-seen'),
  messages: $('messages'),
  typesDetails: $('types-details'),
  typesCount: $('types-count'),
  types: $('event-types'),
  selectAll: $('select-all'),
  selectNone: $('select-none'),
  subscribed: $('subscribed'),
  frames: $('frames'),
  framesCount: $('frames-count'),
  clearFrames: $('clear-frames'),
  feed: $('feed'),
  feedEmpty: $('feed-empty'),
  feedCount: $('feed-count'),
  loadHistory: $('load-history'),
  clearFeed: $('clear-feed'),
  template: $('notification-template'),
};

const sdk = globalThis.InstantChat;
let client;
/** The user and accounts of the last `auth_success`. */
let session;
let expiresAt;
let expiryTimer;
/** Cards on the page by notification key, so that history never shows one twice. */
const shown = new Map();

// ---- page setup ------------------------------------------------------------------------------------------------

function buildEventTypeCheckboxes() {
  for (const group of EVENT_GROUPS) {
    const box = document.createElement('div');
    box.className = 'type-group';
    const title = document.createElement('p');
    title.className = 'type-group-title';
    title.textContent = group.title;
    box.append(title);
    for (const type of group.types) {
      const label = document.createElement('label');
      label.className = 'chip';
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = 'eventType';
      input.value = type;
      const name = document.createElement('span');
      name.textContent = type;
      label.append(input, name);
      box.append(label);
    }
    ui.types.append(box);
  }
  // Twelve chips fill a phone's screen: there they start folded, so that the feed is not pushed below them.
  ui.typesDetails.open = window.matchMedia('(min-width: 860px)').matches;
}

const checkboxes = () => [...ui.types.querySelectorAll('input[name="eventType"]')];
const tickedTypes = () => checkboxes().filter((input) => input.checked).map((input) => input.value);

// ---- presentation helpers --------------------------------------------------------------------------------------

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.statusText.textContent = text;
}

function setConnectedControls(active) {
  ui.disconnect.disabled = !active;
  ui.connect.textContent = active ? 'Reconnect' : 'Connect';
}

function setLiveControls(live) {
  ui.types.disabled = !live;
  ui.selectAll.disabled = !live;
  ui.selectNone.disabled = !live;
  ui.loadHistory.disabled = !live;
}

const timeOf = (value) => new Date(value).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** A line in "Server messages": `kind` is info, warning or error. */
function addMessage(kind, text) {
  ui.messages.querySelector('.message-empty')?.remove();
  const item = document.createElement('li');
  item.className = `message message-${kind}`;
  const when = document.createElement('time');
  when.dateTime = new Date().toISOString();
  when.textContent = timeOf(Date.now());
  const body = document.createElement('span');
  body.textContent = text;
  item.append(when, body);
  ui.messages.prepend(item);
  while (ui.messages.children.length > MAX_MESSAGES) ui.messages.lastElementChild.remove();
}

function showTypesCount() {
  const count = tickedTypes().length;
  ui.typesCount.textContent = count === 0 ? 'none selected' : `${count} of ${ALL_TYPES.length} selected`;
}

function showSubscriptions(eventTypes) {
  const held = new Set(eventTypes);
  for (const input of checkboxes()) input.checked = held.has(input.value);
  showTypesCount();
  const names = eventTypes.length === ALL_TYPES.length ? `all ${ALL_TYPES.length} event types` : eventTypes.join(', ');
  ui.subscribed.textContent = eventTypes.length ? `Subscribed to: ${names}` : 'Subscribed to: nothing yet';
}

/** The token as the SDK reads it (decoded, not verified): who, which accounts, until when. */
function showToken(token) {
  const decoded = sdk?.decodeToken(token);
  ui.user.textContent = decoded?.userId ?? '–';
  ui.accounts.textContent = Array.isArray(decoded?.accountIds) ? decoded.accountIds.join(', ') || 'none' : 'none';
  expiresAt = decoded?.expiresAt;
  clearInterval(expiryTimer);
  showExpiry();
  if (expiresAt !== undefined) expiryTimer = setInterval(showExpiry, 1000);
}

function showExpiry() {
  if (expiresAt === undefined) {
    ui.expiry.textContent = ui.user.textContent === '–' ? '–' : 'never expires';
    ui.expiry.dataset.state = '';
    return;
  }
  const left = Math.round((expiresAt - Date.now()) / 1000);
  const at = timeOf(expiresAt);
  ui.expiry.dataset.state = left <= 0 ? 'expired' : left < 120 ? 'soon' : '';
  ui.expiry.textContent = left <= 0 ? `expired at ${at}` : `expires at ${at} (in ${duration(left)})`;
}

const duration = (seconds) => {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
};

function senderLabel(sender) {
  if (sender?.username && sender?.id) return `@${sender.username} (${sender.id})`;
  if (sender?.username) return `@${sender.username}`;
  if (sender?.id) return `user ${sender.id}`;
  return undefined; // mentions and insights name nobody
}

const keyOf = (n) => JSON.stringify([n.accountId, n.eventType, n.id]);

function renderNotification(notification) {
  const item = ui.template.content.firstElementChild.cloneNode(true);
  const type = String(notification.eventType ?? 'unknown');
  item.dataset.eventType = type;
  item.dataset.kind = MESSAGE_TYPES.has(type) ? 'message' : 'post';
  item.querySelector('.badge').textContent = type;
  item.querySelector('.flags').textContent = notificationFlags(notification).join(' · ');
  const when = item.querySelector('.when');
  const date = new Date(notification.timestamp);
  if (!Number.isNaN(date.getTime())) {
    when.dateTime = date.toISOString();
    when.textContent = date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
  }
  const text = item.querySelector('.text');
  const { kind, line } = describeNotification(notification);
  text.textContent = line;
  if (kind === 'description') text.classList.add('description');
  const sender = senderLabel(notification.sender);
  item.querySelector('.sender').textContent = sender === undefined ? '' : `From ${sender}`;
  item.querySelector('.account').textContent = `Account ${notification.accountId}`;
  item.querySelector('.raw pre').textContent = JSON.stringify(notification, null, 2);
  return item;
}

/** Adds a notification once: live ones at the top, history (older) ones at the bottom. */
function addNotification(notification, { atTop = true } = {}) {
  const key = keyOf(notification);
  if (shown.has(key)) return false;
  const item = renderNotification(notification);
  shown.set(key, item);
  if (atTop) ui.feed.prepend(item);
  else ui.feed.append(item);
  while (ui.feed.children.length > MAX_FEED_ITEMS) {
    const last = ui.feed.lastElementChild;
    for (const [k, element] of shown) if (element === last) shown.delete(k);
    last.remove();
  }
  updateFeedCount();
  return true;
}

function updateFeedCount() {
  const count = ui.feed.children.length;
  ui.feedCount.textContent = String(count);
  ui.feedEmpty.hidden = count > 0;
}

function addFrame({ direction, data }) {
  const item = document.createElement('li');
  item.className = `frame frame-${direction}`;
  const arrow = document.createElement('span');
  arrow.className = 'frame-dir';
  arrow.textContent = direction === 'in' ? '↓' : '↑';
  arrow.title = direction === 'in' ? 'from the server' : 'to the server';
  const body = document.createElement('code');
  body.textContent = data.length > MAX_FRAME_CHARS ? `${data.slice(0, MAX_FRAME_CHARS)}… (${data.length} chars)` : data;
  item.append(arrow, body);
  ui.frames.prepend(item);
  while (ui.frames.children.length > MAX_FRAMES) ui.frames.lastElementChild.remove();
  ui.framesCount.textContent = String(ui.frames.children.length);
}

// ---- the client --------------------------------------------------------------------------------------------------

const selectedTransport = () => ui.form.elements.namedItem('transport').value || 'socketio';

function connect() {
  closeClient();
  const transport = selectedTransport();
  showToken(ui.token.value.trim());
  ui.transport.textContent = TRANSPORT_NAMES[transport];
  setStatus('connecting', 'Connecting…');
  setConnectedControls(true);
  // The SDK asks for the token on every connection and before `exp`: whatever is in the box then.
  const current = sdk.createNotificationClient({
    getToken: () => ui.token.value.trim(),
    eventTypes: tickedTypes(),
    transport,
  });
  client = current;
  const mine = (listener) => (payload) => {
    if (client === current) listener(payload);
  };

  current.on('state', mine((state) => {
    if (state === 'connected') {
      setStatus('connected', `Connected as ${session?.userId ?? '?'}`);
      setLiveControls(true);
      showSubscriptions(tickedTypes());
    } else if (state === 'reconnecting') {
      setStatus('connecting', 'Reconnecting…');
      setLiveControls(false);
    } else if (state === 'connecting') {
      setStatus('connecting', 'Connecting…');
    }
  }));

  current.on('authenticated', mine((payload) => {
    session = payload;
    // At connect and after each refresh: the token in use now, and what the server made of it.
    showToken(ui.token.value.trim());
    ui.user.textContent = payload.userId;
    ui.accounts.textContent = payload.accountIds?.length ? payload.accountIds.join(', ') : 'none';
  }));

  current.on('notification', mine((notification) => {
    addNotification(notification);
    ui.lastSeen.textContent = current.lastSeenId ?? '–';
  }));

  current.on('gap', mine(() => {
    addMessage('warning', 'Some notifications could not be recovered while away: reload them from your own store');
  }));

  current.on('frame', mine(addFrame));

  current.on('error', mine((error) => {
    if (error.code === 'auth_failed' && current.state !== 'connected') {
      // Refused before the connection was up: the token in the box will not do (the SDK would keep retrying it).
      addMessage('error', `Connection refused: ${error.message}`);
      closeClient();
      setStatus('error', `Connection refused: ${error.message}`);
      setConnectedControls(false);
      return;
    }
    if (error.code === 'server_shutdown') {
      addMessage('warning', `${error.message}; reconnecting when it is back`);
      return;
    }
    addMessage(error.code === 'auth_failed' ? 'warning' : 'error', `${error.code}: ${error.message}`);
  }));
}

function closeClient() {
  const closing = client;
  client = undefined;
  session = undefined;
  void closing?.close();
  setLiveControls(false);
  ui.user.textContent = '–';
  ui.accounts.textContent = '–';
  ui.transport.textContent = '–';
  ui.lastSeen.textContent = '–';
  clearInterval(expiryTimer);
  expiresAt = undefined;
  ui.expiry.textContent = '–';
}

async function changeSubscription(eventTypes) {
  if (!client) return;
  try {
    await client.setEventTypes(eventTypes);
    showSubscriptions(eventTypes);
  } catch (err) {
    // The server refused the change (already reported as an error message): show what the page asked for before.
    addMessage('error', `Subscription not changed: ${err.message}`);
  }
}

// ---- wiring ----------------------------------------------------------------------------------------------------

buildEventTypeCheckboxes();
updateFeedCount();
showTypesCount();

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.token.value.trim() === '') {
    setStatus('error', 'Paste a token first');
    ui.token.focus();
    return;
  }
  if (typeof sdk?.createNotificationClient !== 'function') {
    setStatus('error', 'The client SDK did not load from /client/instantchat-client.js');
    return;
  }
  connect();
});

ui.disconnect.addEventListener('click', () => {
  closeClient();
  setStatus('disconnected', 'Disconnected');
  setConnectedControls(false);
});

ui.types.addEventListener('change', (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.name !== 'eventType') return;
  showTypesCount();
  void changeSubscription(tickedTypes());
});

ui.selectAll.addEventListener('click', () => void changeSubscription(ALL_TYPES));
ui.selectNone.addEventListener('click', () => void changeSubscription([]));

ui.loadHistory.addEventListener('click', async () => {
  if (!client) return;
  try {
    const page = await client.getHistory({ limit: 50 });
    ui.feed.setAttribute('aria-busy', 'true');
    // History comes oldest first and is older than what is on screen: append from newest to oldest.
    let added = 0;
    for (const notification of [...page.events].reverse()) if (addNotification(notification, { atTop: false })) added++;
    ui.feed.removeAttribute('aria-busy');
    const note = page.complete === false ? ' (some older notifications are no longer kept)' : '';
    addMessage('info', `History: ${page.events.length} kept, ${added} new on this page${note}`);
  } catch (err) {
    addMessage('error', `History unavailable: ${err.message}`);
  }
});

ui.clearFeed.addEventListener('click', () => {
  ui.feed.replaceChildren();
  shown.clear();
  updateFeedCount();
});

ui.clearFrames.addEventListener('click', () => {
  ui.frames.replaceChildren();
  ui.framesCount.textContent = '0';
});

// `/#token=...&transport=websocket` pre-fills the form (the fragment never reaches the server or its logs) and connects.
const fragment = new URLSearchParams(location.hash.slice(1));
const fromHash = fragment.get('token');
if (fromHash) {
  ui.token.value = fromHash;
  const transport = fragment.get('transport');
  if (transport && TRANSPORT_NAMES[transport]) ui.form.elements.namedItem('transport').value = transport;
  history.replaceState(null, '', location.pathname + location.search);
  ui.form.requestSubmit();
}
