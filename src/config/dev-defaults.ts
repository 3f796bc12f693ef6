/**
 * Development-only secrets. They let `npm start` work on a fresh clone with no `.env`; production refuses every one
 * of them (see `schema.ts`). They are documented in README.md and `.env.example`, so they are public by design.
 */
export const DEV_SECRETS = {
  JWT_SECRET: 'dev-only-jwt-secret-change-me',
  INSTAGRAM_APP_SECRET: 'dev-only-instagram-app-secret',
  INSTAGRAM_WEBHOOK_VERIFY_TOKEN: 'dev-only-verify-token',
} as const;

export type DevSecretName = keyof typeof DEV_SECRETS;
