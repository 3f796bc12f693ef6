// The demo page's client: plain browser JavaScript, no build step. Server data only ever reaches the page through
// textContent (never innerHTML), and nothing here is inline because of the page's Content-Security-Policy.

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
const HEARTBEAT_INTERVAL_MS = 20_000;
const MAX_FEED_ITEMS = 200;
const MAX_MESSAGES = 5;
const CLIENT_ID = `demo-${Math.random().toString(36).slice(2, 10)}`;

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
  socketId: $('fact-socket'),
  heartbeat: $('fact-heartbeat'),
  messages: $('messages'),
  types: $('event-types'),
  selectAll: $('select-all'),
  selectNone: $('select-none'),
  subscribed: $('subscribed'),
  feed: $('feed'),
  feedEmpty: $('feed-empty'),
  feedCount: $('feed-count'),
  loadHistory: $('load-history'),
  clearFeed: $('clear-feed'),
  template: $('notification-template'),
};

let socket;
let heartbeatTimer;
let reconnectTimer;
/** Set by `server_shutdown`: the disconnect that follows is a restart or a deploy, so reconnect on our own. */
let serverShuttingDown = false;
let heartbeatSentAt = 0;
let authenticated = false;
/** Ids already on the page, so that history and live events never show one notification twice. */
const shown = new Set();

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
}

const checkboxes = () => [...ui.types.querySelectorAll('input[name="eventType"]')];
const tickedTypes = () => checkboxes().filter((input) => input.checked).map((input) => input.value);

// ---- presentation helpers --------------------------------------------------------------------------------------

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.statusText.textContent = text;
}

function setConnectedControls(connected) {
  ui.disconnect.disabled = !connected;
  ui.connect.textContent = connected ? 'Reconnect' : 'Connect';
}

function setAuthenticatedControls(isAuthenticated) {
  authenticated = isAuthenticated;
  ui.types.disabled = !isAuthenticated;
  ui.selectAll.disabled = !isAuthenticated;
  ui.selectNone.disabled = !isAuthenticated;
  ui.loadHistory.disabled = !isAuthenticated;
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

function showSubscriptions(eventTypes, accountIds) {
  const held = new Set(eventTypes);
  for (const input of checkboxes()) input.checked = held.has(input.value);
  const accounts = accountIds?.length ? ` (accounts: ${accountIds.join(', ')})` : '';
  const names = eventTypes.length === ALL_TYPES.length ? `all ${ALL_TYPES.length} event types` : eventTypes.join(', ');
  ui.subscribed.textContent = eventTypes.length ? `Subscribed to: ${names}${accounts}` : 'Subscribed to: nothing yet';
}

function senderLabel(sender) {
  if (sender?.username && sender?.id) return `@${sender.username} (${sender.id})`;
  if (sender?.username) return `@${sender.username}`;
  if (sender?.id) return `user ${sender.id}`;
  return 'unknown sender';
}

function renderNotification(notification) {
  const item = ui.template.content.firstElementChild.cloneNode(true);
  const type = String(notification.eventType ?? 'unknown');
  item.dataset.eventType = type;
  item.dataset.kind = MESSAGE_TYPES.has(type) ? 'message' : 'post';
  item.querySelector('.badge').textContent = type;
  const when = item.querySelector('.when');
  const date = new Date(notification.timestamp);
  if (!Number.isNaN(date.getTime())) {
    when.dateTime = date.toISOString();
    when.textContent = date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' });
  }
  const text = item.querySelector('.text');
  if (typeof notification.content === 'string' && notification.content !== '') {
    text.textContent = notification.content;
  } else {
    text.textContent = 'No text';
    text.classList.add('muted');
  }
  item.querySelector('.sender').textContent = `From ${senderLabel(notification.sender)}`;
  item.querySelector('.account').textContent = `Account ${notification.accountId}`;
  item.querySelector('.raw pre').textContent = JSON.stringify(notification, null, 2);
  return item;
}

/** Adds a notification once: live ones at the top, history (older) ones at the bottom. */
function addNotification(notification, { atTop = true } = {}) {
  if (!notification || typeof notification.id !== 'string' || shown.has(notification.id)) return false;
  shown.add(notification.id);
  const item = renderNotification(notification);
  if (atTop) ui.feed.prepend(item);
  else ui.feed.append(item);
  while (ui.feed.children.length > MAX_FEED_ITEMS) ui.feed.lastElementChild.remove();
  updateFeedCount();
  return true;
}

function updateFeedCount() {
  const count = ui.feed.children.length;
  ui.feedCount.textContent = String(count);
  ui.feedEmpty.hidden = count > 0;
}

// ---- heartbeats ------------------------------------------------------------------------------------------------

function sendHeartbeat() {
  if (!socket?.connected) return;
  heartbeatSentAt = performance.now();
  socket.emit('heartbeat', { timestamp: Date.now(), clientId: CLIENT_ID });
}

function startHeartbeats() {
  stopHeartbeats();
  sendHeartbeat();
  heartbeatTimer = setInterval(sendHeartbeat, HEARTBEAT_INTERVAL_MS);
}

function stopHeartbeats() {
  clearInterval(heartbeatTimer);
  heartbeatTimer = undefined;
}

// ---- the socket ------------------------------------------------------------------------------------------------

function connect(token) {
  closeSocket();
  setStatus('connecting', 'Connecting…');
  // Same origin as the page; the token goes in the handshake (SPEC: io(url, { auth: { token } })).
  socket = io({ auth: { token } });
  setConnectedControls(true);

  socket.on('connect', () => {
    serverShuttingDown = false;
    ui.socketId.textContent = socket.id;
    if (socket.recovered) {
      setStatus('connected', 'Reconnected; missed notifications recovered');
      setAuthenticatedControls(true);
      startHeartbeats();
    } else {
      setStatus('connecting', 'Connected, authenticating…');
    }
  });

  socket.on('connect_error', (err) => {
    stopHeartbeats();
    setAuthenticatedControls(false);
    if (socket.active) {
      setStatus('connecting', `Cannot reach the server (${err.message}); retrying…`);
    } else {
      // A refused handshake (bad or expired token, too many connections) is not retried.
      setStatus('error', `Connection refused: ${err.message}`);
      addMessage('error', `Connection refused: ${err.message}`);
      setConnectedControls(false);
    }
  });

  socket.on('auth_success', (payload) => {
    ui.user.textContent = payload.userId;
    ui.accounts.textContent = payload.accountIds?.length ? payload.accountIds.join(', ') : 'none';
    setStatus('connected', `Connected as ${payload.userId}`);
    setAuthenticatedControls(true);
    startHeartbeats();
    // A fresh connection starts with no subscriptions: restore what is ticked.
    const ticked = tickedTypes();
    if (ticked.length > 0) socket.emit('subscribe', { eventTypes: ticked, timestamp: Date.now() });
  });

  socket.on('auth_failed', (payload) => {
    setStatus('error', `Authentication failed: ${payload.reason}`);
    addMessage('error', `Authentication failed: ${payload.reason}`);
    setAuthenticatedControls(false);
  });

  socket.on('subscription_confirmed', (payload) => showSubscriptions(payload.eventTypes, payload.accountIds));

  socket.on('webhook_event', (notification) => addNotification(notification));

  socket.on('heartbeat_response', (payload) => {
    const roundTrip = Math.max(0, Math.round(performance.now() - heartbeatSentAt));
    ui.heartbeat.textContent = `${timeOf(payload.serverTime ?? Date.now())} · ${roundTrip} ms round trip`;
  });

  socket.on('history', (payload) => {
    const events = Array.isArray(payload.events) ? payload.events : [];
    ui.feed.setAttribute('aria-busy', 'true');
    // History comes oldest first and is older than what is on screen: append from newest to oldest.
    let added = 0;
    for (const event of [...events].reverse()) if (addNotification(event, { atTop: false })) added++;
    ui.feed.removeAttribute('aria-busy');
    const note = payload.complete === false ? ' (some older notifications are no longer kept)' : '';
    addMessage('info', `History: ${events.length} kept, ${added} new on this page${note}`);
  });

  socket.on('error', (payload) => {
    addMessage('error', `${payload?.code ?? 'error'}: ${payload?.message ?? 'unknown error'}`);
    // A refused subscription change leaves the server's set as it was: re-read it so the boxes tell the truth.
    if (payload?.code === 'invalid_event_type' || payload?.code === 'forbidden_account') socket.emit('get_subscriptions', {});
  });

  socket.on('connection_info', (payload) => showSubscriptions(payload.subscriptions ?? [], payload.accountIds));

  socket.on('server_shutdown', (payload) => {
    serverShuttingDown = true;
    addMessage('warning', `${payload.reason}; reconnecting when it is back`);
  });

  socket.on('disconnect', (reason) => {
    stopHeartbeats();
    setAuthenticatedControls(false);
    ui.socketId.textContent = '–';
    if (reason === 'io client disconnect') {
      setStatus('disconnected', 'Disconnected');
      setConnectedControls(false);
    } else if (socket.active) {
      setStatus('connecting', `Connection lost (${reason}); reconnecting…`);
    } else if (serverShuttingDown) {
      // Socket.IO does not reconnect after a server-side disconnect; SPEC asks clients to come back after a shutdown.
      setStatus('connecting', 'Server restarting; reconnecting…');
      reconnectTimer = setTimeout(() => socket?.connect(), 1000);
    } else {
      // Keep an authentication failure on screen rather than a generic line.
      if (ui.status.dataset.state !== 'error') setStatus('disconnected', 'Disconnected by the server');
      setConnectedControls(false);
    }
  });

  socket.io.on('reconnect_attempt', (attempt) => setStatus('connecting', `Reconnecting (attempt ${attempt})…`));
}

function closeSocket() {
  stopHeartbeats();
  clearTimeout(reconnectTimer);
  serverShuttingDown = false;
  if (socket) {
    socket.removeAllListeners();
    socket.io.removeAllListeners();
    socket.disconnect();
    socket = undefined;
  }
  setAuthenticatedControls(false);
  ui.user.textContent = '–';
  ui.accounts.textContent = '–';
  ui.socketId.textContent = '–';
  ui.heartbeat.textContent = '–';
}

function changeSubscription(event, eventTypes) {
  if (!socket?.connected || !authenticated || eventTypes.length === 0) return;
  socket.emit(event, { eventTypes, timestamp: Date.now() });
}

// ---- wiring ----------------------------------------------------------------------------------------------------

buildEventTypeCheckboxes();
updateFeedCount();

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.token.value.trim();
  if (token === '') {
    setStatus('error', 'Paste a token first');
    ui.token.focus();
    return;
  }
  if (typeof io !== 'function') {
    setStatus('error', 'The Socket.IO client did not load from /socket.io/socket.io.js');
    return;
  }
  connect(token);
});

ui.disconnect.addEventListener('click', () => {
  closeSocket();
  setStatus('disconnected', 'Disconnected');
  setConnectedControls(false);
});

ui.types.addEventListener('change', (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.name !== 'eventType') return;
  changeSubscription(input.checked ? 'subscribe' : 'unsubscribe', [input.value]);
});

ui.selectAll.addEventListener('click', () => changeSubscription('subscribe', ALL_TYPES));
ui.selectNone.addEventListener('click', () => changeSubscription('unsubscribe', ALL_TYPES));

ui.loadHistory.addEventListener('click', () => {
  if (socket?.connected && authenticated) socket.emit('get_history', { limit: 50 });
});

ui.clearFeed.addEventListener('click', () => {
  ui.feed.replaceChildren();
  shown.clear();
  updateFeedCount();
});

// `/#token=...` pre-fills the token (the fragment never reaches the server or its logs) and connects.
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  ui.token.value = fromHash;
  history.replaceState(null, '', location.pathname + location.search);
  ui.form.requestSubmit();
}
