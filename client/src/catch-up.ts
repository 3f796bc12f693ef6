import type { Delivery } from './delivery.js';
import type { EventType, HistoryPayload, HistoryRequest, Notification } from './protocol.js';

/** Catch-up rounds when live notifications overflow the held buffer while one runs. */
const MAX_ROUNDS = 3;

/** SPEC: `get_history` answers at most 100 events a page. */
export const HISTORY_PAGE_SIZE = 100;
/** A catch-up never asks more pages than this (20 000 notifications); past it, it reports a gap. */
export const MAX_PAGES = 200;

export interface CatchUpDeps {
  /** One `get_history` round trip; rejects on an `error` answer, a timeout or a lost connection. */
  fetchPage(query: HistoryRequest): Promise<HistoryPayload>;
  /** Hands one notification to the application; false when it was already delivered. */
  deliver(notification: Notification): boolean;
  /** Called once, before the notifications of the first page that says `complete: false`. */
  onGap(): void;
}

export interface CatchUpFilter {
  readonly eventTypes: readonly EventType[];
  readonly accountIds?: readonly string[] | undefined;
}

export interface CatchUpResult {
  /** Whether the server could not vouch that nothing was missed. */
  readonly gap: boolean;
  readonly pages: number;
  /** Notifications handed over (duplicates left out). */
  readonly delivered: number;
}

/**
 * Fetches, page after page, everything newer than `since` and delivers it, oldest first. A page of `pageSize`
 * events means there may be more, so it asks again from that page's last id; a shorter page is the end. History may
 * repeat a notification (one id can stand for several notifications, and the server resumes from the oldest of
 * them): duplicates are left to `deliver`. A full page that brought nothing new is not progress (it can only be
 * history resuming from an older twin of `since`): that, too, is reported as a gap rather than looping.
 */
export async function catchUpSince(
  since: string,
  filter: CatchUpFilter,
  deps: CatchUpDeps,
  pageSize = HISTORY_PAGE_SIZE,
): Promise<CatchUpResult> {
  let gap = false;
  let delivered = 0;
  let cursor = since;
  const reportGap = () => {
    if (gap) return;
    gap = true;
    deps.onGap();
  };
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const page = await deps.fetchPage(query(filter, { since: cursor, limit: pageSize }));
    if (!page.complete) reportGap();
    let fresh = 0;
    for (const notification of page.events) if (deps.deliver(notification)) fresh++;
    delivered += fresh;
    const last = page.events.at(-1);
    if (page.events.length < pageSize || last === undefined) return { gap, pages, delivered };
    if (fresh === 0) {
      reportGap();
      return { gap, pages, delivered };
    }
    cursor = last.id;
  }
  reportGap();
  return { gap, pages: MAX_PAGES, delivered };
}

/**
 * The newest kept notification's id: where a client that has seen nothing yet starts from, so that what it misses
 * after a later drop can be asked for with `since`. Undefined when history is empty.
 */
export async function newestId(filter: CatchUpFilter, deps: Pick<CatchUpDeps, 'fetchPage'>): Promise<string | undefined> {
  const page = await deps.fetchPage(query(filter, { limit: 1 }));
  return page.events.at(-1)?.id;
}

/**
 * For a client that has seen nothing and found history empty when it started: everything kept now is new to it, but
 * without an id to start from only the latest page can be asked for. A full page may hide older ones: a gap.
 */
export async function catchUpFromEmpty(filter: CatchUpFilter, deps: CatchUpDeps, pageSize = HISTORY_PAGE_SIZE) {
  const page = await deps.fetchPage(query(filter, { limit: pageSize }));
  const gap = page.events.length >= pageSize;
  if (gap) deps.onGap();
  let delivered = 0;
  for (const notification of page.events) if (deps.deliver(notification)) delivered++;
  return { gap, pages: 1, delivered } satisfies CatchUpResult;
}

function query(filter: CatchUpFilter, page: { since?: string; limit: number }): HistoryRequest {
  return {
    // History is not filtered by subscriptions: ask for what the client subscribed to.
    eventTypes: [...filter.eventTypes],
    ...(filter.accountIds !== undefined && { accountIds: [...filter.accountIds] }),
    ...page,
  };
}

/**
 * A client's catch-up, connection after connection: from the last notification delivered, or, for a client that
 * has not delivered any yet, from the newest id kept when it first connected (so that even its first drop is caught
 * up). History pages go straight to `delivery`; live notifications held meanwhile are its business.
 */
export class CatchUp {
  #anchored = false;
  #anchorId: string | undefined;

  constructor(private readonly delivery: Delivery) {}

  /** Where the next catch-up starts. */
  get resumePoint(): string | undefined {
    return this.delivery.lastSeenId ?? this.#anchorId;
  }

  /** Runs one catch-up; rejects when a page cannot be had (the caller drops the connection and tries again later). */
  async run(filter: CatchUpFilter, deps: Pick<CatchUpDeps, 'fetchPage' | 'onGap'>): Promise<void> {
    if (filter.eventTypes.length === 0) return;
    const full: CatchUpDeps = { ...deps, deliver: (n) => this.delivery.deliver(n) };
    this.delivery.takeOverflow();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const since = this.resumePoint;
      if (since !== undefined) {
        await catchUpSince(since, filter, full);
      } else if (!this.#anchored) {
        // Nothing seen yet: what is kept now is from before this client; remember where "after" starts.
        this.#anchorId = await newestId(filter, full);
        this.#anchored = true;
      } else {
        await catchUpFromEmpty(filter, full);
      }
      // Live notifications overflowed the held buffer meanwhile: they are in history, go round again.
      if (!this.delivery.takeOverflow()) return;
    }
    deps.onGap();
  }
}
