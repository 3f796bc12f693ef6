import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** The process tests spawn the compiled server exactly as `npm start` runs it, so build once before the suite. */
export default function setup(): void {
  mkdirSync('test-artifacts', { recursive: true });
  // For a quick run of files that do not spawn the server (never set in CI or by `npm test`).
  if (process.env.SKIP_BUILD === '1') return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
