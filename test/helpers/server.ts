import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { createNotificationServer, type NotificationServer } from '../../src/server/notification-server.js';
import { TEST_JWT_SECRET } from './tokens.js';

/** The app secret the shared fixtures are signed with. */
export const TEST_APP_SECRET = 'test_app_secret';
export { TEST_JWT_SECRET };
export const TEST_VERIFY_TOKEN = 'test-verify-token';

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    INSTAGRAM_APP_SECRET: TEST_APP_SECRET,
    INSTAGRAM_WEBHOOK_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    // Every test socket comes from 127.0.0.1: lift the per-IP budget unless a test is about it.
    CONNECT_RATE_LIMIT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  });
}

export interface RunningServer {
  readonly server: NotificationServer;
  readonly config: Config;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * A real server on a real (free) port of 127.0.0.1. In cluster mode it listens before Redis is connected; unless
 * told otherwise, wait until it is ready.
 */
export async function startServer(
  overrides: Record<string, string | undefined> = {},
  options: { waitReady?: boolean } = {},
): Promise<RunningServer> {
  const config = testConfig(overrides);
  const server = createNotificationServer(config, createLogger(config.LOG_LEVEL));
  const address = await server.listen();
  const url = `http://127.0.0.1:${address.port}`;
  if (options.waitReady ?? config.REDIS_URL !== undefined) {
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('the server did not become ready within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return { server, config, url, stop: async () => void (await server.stop()) };
}
