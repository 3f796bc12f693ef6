import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VARIABLES } from '../src/config/schema.js';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

/** The variables named in the first column of README's configuration table (`A` / `B` rows name two). */
function readmeVariables(): string[] {
  const section = read('README.md').split('\n## Configuration')[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] as string));
}

describe('configuration documentation', () => {
  it("README's configuration table lists exactly the schema's variables", () => {
    expect([...readmeVariables()].sort()).toEqual([...VARIABLES].sort());
  });

  it('.env.example lists exactly the schema\'s variables', () => {
    const listed = read('.env.example')
      .split('\n')
      .map((line) => /^([A-Z_]+)=/.exec(line)?.[1])
      .filter((name): name is string => name !== undefined);
    expect([...listed].sort()).toEqual([...VARIABLES].sort());
  });
});
