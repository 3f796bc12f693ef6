import { draft, type Drafted } from './draft.js';
import type { MessagingInput } from './item-context.js';
import { itemDigest } from './item-digest.js';
import { idAt, recordAt, stringAt } from './json-fields.js';
import type { JsonRecord } from './json-fields.js';

/*
 * Events about the conversation itself (button taps, ig.me links, opt-ins, thread control). Apart from a postback's
 * `mid` they have no id of their own; their ids are `<kind>:<senderId>:<timestampMs>`, or `<kind>:<digest>` of the
 * item when either part is missing.
 */

function compositeId(kind: string, { senderId, ctx, item }: MessagingInput): string | undefined {
  if (senderId !== undefined && ctx.eventMs !== undefined) return `${kind}:${senderId}:${ctx.eventMs}`;
  const digest = itemDigest(item);
  return digest === undefined ? undefined : `${kind}:${digest}`;
}

/** Ad and link context a postback or referral may carry: `ref`, `source`, `type`, `ad_id`. */
function referralDetails(referral: JsonRecord | undefined): Record<string, string | undefined> {
  return {
    ref: stringAt(referral, 'ref'),
    source: stringAt(referral, 'source'),
    type: stringAt(referral, 'type'),
    adId: idAt(referral, 'ad_id'),
  };
}

/** `postback` → `messaging_postbacks` (icebreakers, buttons): id `postback.mid` else a composite; content: title. */
export function normalizePostback(postback: JsonRecord, input: MessagingInput): Drafted {
  const id = idAt(postback, 'mid') ?? compositeId('postback', input);
  if (id === undefined) return 'missing_id';
  return draft({
    id,
    eventType: 'messaging_postbacks',
    ctx: input.ctx,
    senderId: input.senderId,
    content: stringAt(postback, 'title'),
    details: { payload: stringAt(postback, 'payload'), ...referralDetails(recordAt(postback, 'referral')) },
  });
}

/** `referral` → `messaging_referral` (an ig.me link or ad opened an existing thread). */
export function normalizeReferral(referral: JsonRecord, input: MessagingInput): Drafted {
  const id = compositeId('referral', input);
  if (id === undefined) return 'missing_id';
  return draft({
    id,
    eventType: 'messaging_referral',
    ctx: input.ctx,
    senderId: input.senderId,
    details: referralDetails(referral),
  });
}

/**
 * `optin` → `messaging_optins` (marketing-message opt-ins). `notification_messages_token` is deliberately left out:
 * it is the credential to message that person, and notifications go to browsers.
 */
export function normalizeOptin(optin: JsonRecord, input: MessagingInput): Drafted {
  const id = compositeId('optin', input);
  if (id === undefined) return 'missing_id';
  return draft({
    id,
    eventType: 'messaging_optins',
    ctx: input.ctx,
    senderId: input.senderId,
    details: {
      type: stringAt(optin, 'type'),
      payload: stringAt(optin, 'payload'),
      ref: stringAt(optin, 'ref'),
      title: stringAt(optin, 'title'),
      frequency: stringAt(optin, 'notification_messages_frequency'),
      userTokenStatus: stringAt(optin, 'user_token_status'),
    },
  });
}

/** The handover protocol's keys, all delivered as `messaging_handover` with the key as `details.action`. */
export const HANDOVER_KEYS = ['pass_thread_control', 'take_thread_control', 'request_thread_control'] as const;

/** `pass_thread_control` and kin → `messaging_handover`. */
export function normalizeHandover(control: JsonRecord, input: MessagingInput, key: string): Drafted {
  const id = compositeId('handover', input);
  if (id === undefined) return 'missing_id';
  return draft({
    id,
    eventType: 'messaging_handover',
    ctx: input.ctx,
    senderId: input.senderId,
    details: {
      action: key,
      previousOwnerAppId: idAt(control, 'previous_owner_app_id'),
      newOwnerAppId: idAt(control, 'new_owner_app_id'),
      requestedOwnerAppId: idAt(control, 'requested_owner_app_id'),
      metadata: stringAt(control, 'metadata'),
    },
  });
}
