import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

/**
 * The process tests spawn the compiled server exactly as `npm start` runs it, so build once before the suite; the
 * client SDK too (its browser bundle is served by the server, and its published files are checked).
 */
export default function setup(): void {
  mkdirSync('test-artifacts', { recursive: true });
  // For a quick run of files that do not spawn the server (never set in CI or by `npm test`).
  const skip = process.env.SKIP_BUILD === '1';
  if (!skip || !existsSync('client/dist/instantchat-client.js')) {
    execFileSync(process.execPath, ['client/scripts/build.mjs'], { stdio: 'inherit' });
  }
  if (skip) return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
