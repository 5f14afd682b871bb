import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { apiChecks } from '../../cli/precompiled/api-checks.js';
import { generateApiChecksSource } from '../../cli/precompiled/generate-api-checks.js';
import { validators } from '../../protocol/api.js';
import { repoRoot } from './built-cli.js';

t.test('the precompiled checks are current with protocol/api.ts', async (t) => {
  const onDisk = readFileSync(path.join(repoRoot, 'cli', 'precompiled', 'api-checks.ts'), 'utf8');
  t.equal(onDisk, generateApiChecksSource(), 'stale: run `npx tsc -p . && node dist/cli/precompiled/generate-api-checks.js cli/precompiled/api-checks.ts`');
  t.same(Object.keys(apiChecks).sort(), Object.keys(validators).sort(), 'one check per validator');
});

t.test('they accept and refuse exactly what the validators do', async (t) => {
  const samples: unknown[] = [
    { jobId: 4, name: 'true' },
    { jobId: 3, name: 'true', array: { first: 1, last: 10, step: 1 } },
    { jobId: 3, name: 'true', array: { first: 0, last: 10, step: 1 } },
    { jobId: '4', name: 'true' },
    { error: 'x' },
    { error: 'x', hint: 3 },
    { rows: [] },
    { messages: [{ ok: true, text: 'root has deleted job 8' }] },
    { messages: [{ ok: 'yes', text: '' }] },
    null,
    [],
  ];
  for (const name of Object.keys(validators) as Array<keyof typeof validators>) {
    for (const sample of samples) t.equal(apiChecks[name](sample), validators[name].check(sample), `${name} on ${JSON.stringify(sample)}`);
  }
});
