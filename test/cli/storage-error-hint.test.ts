import t from 'tap';
import { isStorageFailure, storageErrorHint } from '../../cli/setup-error-hint.js';
import { RetriesExhaustedError } from '../../retry/retry.js';
import { OssAuthError, OssRequestError } from '../../storage/errors.js';

const unreachable = new OssRequestError('GetObject', 'oss://scenes/a.png', -2, 'ConnectionTimeout', undefined, 'connect ETIMEDOUT', true);

t.test('a storage error whose retries ran out is still the setup\'s, with the same hint', async (t) => {
  const exhausted = new RetriesExhaustedError('OSS GetObject oss://scenes/a.png', 5, unreachable);
  t.ok(isStorageFailure(exhausted), 'not reported as a bug in qfarm');
  t.match(storageErrorHint(exhausted), /OSS could not be reached: check the endpoint/);
  t.equal(storageErrorHint(exhausted), storageErrorHint(unreachable), 'the hint is the last error\'s');
  const denied = new OssAuthError('denied', 'scenes', 'LTAIkey', 'AccessDenied', 'R1');
  t.match(storageErrorHint(new RetriesExhaustedError('x', 2, denied)), /grant AccessKeyId "LTAIkey" access to bucket "scenes"/);
});

t.test('retries of something that is not storage stay what they are', async (t) => {
  t.notOk(isStorageFailure(new RetriesExhaustedError('ecs DescribeInstances', 5, new Error('boom'))));
  t.notOk(isStorageFailure(new Error('boom')));
  t.ok(isStorageFailure(unreachable));
});
