import { configSchema, type Config } from './schema.js';

export type { Config, LogLevel } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Turns an environment (process.env after dotenv) into a Config, or throws a ConfigError with one clear line. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  // An empty value in a .env file (`REDIS_URL=`) means "unset", as with most twelve-factor tools.
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      // Never echo a secret's value, even a malformed one.
      const secretLike = /SECRET|TOKEN|KEY/.test(name);
      const given = env[name] === undefined || secretLike ? '' : ` (got ${JSON.stringify(truncate(env[name]))})`;
      return `${name}: ${issue.message}${given}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return deepFreeze(parsed.data);
}

function truncate(value: string | undefined): string | undefined {
  return value !== undefined && value.length > 60 ? `${value.slice(0, 57)}...` : value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object' && !Object.isFrozen(inner)) deepFreeze(inner as object);
  }
  return Object.freeze(value);
}
