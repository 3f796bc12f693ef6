import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { VARIABLES } from '../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STACK_LINE = /^\s+at /m;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a CLI as `npm run` does (through tsx), from the repository root. Every configuration variable is passed, empty
 * (which the config treats as unset) unless given, so that a developer's `.env` never changes what is tested.
 */
export function runCli(script: 'token' | 'webhook', args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const blank = Object.fromEntries(VARIABLES.map((name) => [name, '']));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...blank, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The token a successful `token` run printed (exit 0, no stack trace). */
export function printedToken(run: CliRun): string {
  expect(run.stderr).not.toMatch(STACK_LINE);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
}

/** A failed run: its exit code and one clear line, never a stack trace. */
export function expectCliError(run: CliRun, code: number, message: RegExp): void {
  expect(run.stderr).not.toMatch(STACK_LINE);
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(message);
}
