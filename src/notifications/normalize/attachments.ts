import { compact } from './draft.js';
import { idAt, isRecord, recordAt, stringAt } from './json-fields.js';

/** One DM attachment as clients see it in `details.attachments`. */
export interface Attachment {
  readonly type: string;
  readonly url?: string;
  readonly title?: string;
  readonly mediaId?: string;
}

/**
 * Browsers render these URLs (`<img src>`, links): only http(s) is passed on, so a crafted body cannot smuggle a
 * `javascript:` or `data:` URL to a client. Meta's own are https CDN links (`lookaside.fbsbx.com`).
 */
const WEB_URL = /^https?:\/\//i;

function attachmentOf(raw: unknown): Attachment | undefined {
  if (!isRecord(raw)) return undefined;
  const type = stringAt(raw, 'type');
  if (type === undefined) return undefined;
  const payload = recordAt(raw, 'payload');
  const url = stringAt(payload, 'url');
  return {
    type,
    ...compact({
      url: url !== undefined && WEB_URL.test(url) ? url : undefined,
      title: stringAt(payload, 'title'),
      mediaId: idAt(payload, 'ig_post_media_id') ?? idAt(payload, 'reel_video_id'),
    }),
  };
}

/**
 * `message.attachments[]` as `{type, url?, title?, mediaId?}`; `undefined` when there are none.
 *
 * Since November 2025 a post shared into a DM arrives as two attachments for the one post: the legacy `share` (a URL
 * only) and `ig_post` (URL, caption as `title`, `ig_post_media_id`). When an `ig_post` is present the `share` is
 * dropped, so a client shows the post once and gets the richer form.
 */
export function attachmentsOf(value: unknown): Attachment[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const all = value.map(attachmentOf).filter((a): a is Attachment => a !== undefined);
  const list = all.some((a) => a.type === 'ig_post') ? all.filter((a) => a.type !== 'share') : all;
  return list.length > 0 ? list : undefined;
}
