import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`); playwright-core brings no browser of its own. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const inCi = process.env.CI !== undefined && process.env.CI !== '';
const installed = existsSync(CHROMIUM_PATH);

/** Browser tests run whenever Chromium is installed, and always in CI, where a missing Chromium is a failure. */
export const runBrowserTests = installed || inCi;

/** Says loudly that browser tests were skipped, so that a local green run is not mistaken for a full one. */
export function warnIfBrowserTestsSkipped(what: string): void {
  if (runBrowserTests) return;
  const line = '!'.repeat(100);
  console.warn(
    `\n${line}\n!! SKIPPED: ${what}\n!! Chromium is not installed at ${CHROMIUM_PATH}. Install it with:\n` +
      '!!   apt-get update && apt-get install -y chromium\n' +
      `!! (In CI, where CI is set, this test fails instead of skipping.)\n${line}\n`,
  );
}

export async function launchChromium(): Promise<Browser> {
  if (!installed) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}, and CI is set, so the browser test may not skip: ` +
        'apt-get install -y chromium',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
