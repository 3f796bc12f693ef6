import type { Notification } from '../notification.js';
import type { SkipCount } from './skips.js';

/** What the normalizer made of one webhook body. */
export interface NormalizeResult {
  /** Which of the two understood shapes the body was in; `unknown` when neither. */
  readonly shape: 'envelope' | 'flat' | 'unknown';
  /** Valid notifications, in the order their items appear in the body. */
  readonly notifications: Notification[];
  /** Items (changes/messaging/standby entries, or the flat body) that could not be turned into a notification. */
  readonly skipped: number;
  /** Those items counted by reason and kind (at most a few dozen pairs, whatever the body). */
  readonly skips: SkipCount[];
}
