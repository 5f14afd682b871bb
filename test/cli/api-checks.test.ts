import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { apiChecks } from '../../cli/precompiled/api-checks.js';
import { generateApiChecksSource } from '../../cli/precompiled/generate-api-checks.js';
import { checkedRequest } from '../../cli/precompiled/checked-request.js';
import { validators, type DeleteRequest } from '../../protocol/api.js';
import { ProtocolValidationError } from '../../protocol/validate.js';
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

t.test('a request body is checked before sending, and a bad one is refused naming the field', async (t) => {
  const body: DeleteRequest = { targets: [{ job: '8' }], users: [], force: false };
  t.equal(await checkedRequest('deleteRequest', body), body, 'a valid body is sent as it is');
  const empty: DeleteRequest = { targets: [{ job: '' }], users: [], force: false };
  const refused = await checkedRequest('deleteRequest', empty).catch((e: unknown) => e);
  t.type(refused, ProtocolValidationError, 'the same error validators.deleteRequest.parse throws');
  t.match((refused as Error).message, /^invalid delete request: \/targets\/0\/job /);
  await t.rejects(checkedRequest('holdRequest', { targets: [{ job: '9', tasks: { first: 0, last: 1, step: 1 } }] }), { message: /^invalid hold request: \/targets\/0\/tasks\/first / });
});
