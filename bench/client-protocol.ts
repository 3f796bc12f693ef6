/** Messages between the bench's main process and its client processes (bench/client-worker.ts). */
export type PoolRequest =
  | {
      type: 'connect';
      id: number;
      url: string;
      /** HS256 secret the tokens are signed with. */
      secret: string;
      /** Users are `bench-user-<firstUser + i>`, one socket each. */
      firstUser: number;
      count: number;
      /** Socket i is entitled to `accounts[i % accounts.length]`. */
      accounts: string[];
      /** Subscribed at once after `auth_success` (none: authenticated only). */
      eventTypes: string[];
      /** Connections opened at a time. */
      concurrency: number;
    }
  | { type: 'count'; id: number; prefix: string }
  | { type: 'report'; id: number; withLatencies: boolean }
  | { type: 'close'; id: number };

export type PoolReply =
  | { type: 'done'; id: number; ok: number; failed: number; errors: string[]; ms: number }
  | { type: 'done'; id: number; received: number; latencies: number[]; dropped: number }
  | { type: 'done'; id: number };
