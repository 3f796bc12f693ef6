import dotenv from 'dotenv';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './observability/logger.js';
import { createNotificationServer } from './server/notification-server.js';
import { exitOnSignals } from './server/signals.js';

// quiet: dotenv >= 17 otherwise prints a line on stdout that breaks JSON logs.
dotenv.config({ quiet: true });

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
if (config.devSecretsInUse.length > 0) {
  logger.warn(
    { variables: config.devSecretsInUse },
    'using development defaults for secrets; set them (see .env.example) before exposing this server',
  );
}

const server = createNotificationServer(config, logger);
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
exitOnSignals((options) => server.stop(options), {
  delayMs: config.SHUTDOWN_DELAY_MS,
  timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  logger,
});

try {
  const address = await server.listen();
  logger.info(
    { port: address.port, host: address.address, env: config.NODE_ENV, demoPage: config.DEMO_PAGE },
    `listening on http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${address.port}`,
  );
} catch (err) {
  logger.fatal({ err }, 'could not start');
  process.exit(1);
}
