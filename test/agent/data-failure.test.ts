import t from 'tap';
import { classifyDataFailure, DataFailureKind, NodeConfigurationError } from '../../agent/data-failure.js';
import { TaskDataError } from '../../agent/task-data.js';
import { UserSideError } from '../../agent/user-side-data.js';
import { RetriesExhaustedError } from '../../retry/retry.js';
import { CrcMismatchError, ObjectNotFoundError, OssAuthError, OssRequestError, OutputUploadError } from '../../storage/errors.js';
import { UnsafeOutputError } from '../../storage/nofollow-walk.js';
import { parseStorageUrl } from '../../storage/object-store.js';
import { MissingCredentialsError } from '../../storage/oss-credentials.js';
import { StageCacheLockedError, StageError } from '../../storage/stage-cache.js';

const URL = 'oss://scenes/tex/a.png';
const unavailable = () => new OssRequestError('GetObject', URL, 503, 'ServiceUnavailable', 'R1', 'try later', true);
const errno = (code: string) => Object.assign(new Error(`${code}: on /var/lib/qfarm`), { code });
function invalidUrl(url: string): unknown {
  try {
    parseStorageUrl(url);
  } catch (err) {
    return err;
  }
  throw new Error(`${url} parsed`);
}

t.test('the network, 5xx, corruption in transit and a full disk are transient: the task runs again', async (t) => {
  t.equal(classifyDataFailure(unavailable()), DataFailureKind.Transient);
  t.equal(classifyDataFailure(new RetriesExhaustedError(`OSS GetObject ${URL}`, 5, unavailable())), DataFailureKind.Transient, 'after the store gave up retrying');
  t.equal(classifyDataFailure(new StageError(URL, '/cache/x', new CrcMismatchError(URL, 'download', '1', '2'))), DataFailureKind.Transient);
  t.equal(classifyDataFailure(errno('ENOSPC')), DataFailureKind.Transient, 'another node may have room');
  t.equal(classifyDataFailure(new UserSideError('tar as user mallory failed', 'tar: short read')), DataFailureKind.Transient, "a user-side tool failing for a reason that is not the user's rights");
  t.equal(classifyDataFailure(new ObjectNotFoundError(URL)), DataFailureKind.Transient, 'what tells nothing stays transient, bounded by the attempt cap');
});

t.test("this node's configuration is not retried: no credentials, rejected keys, an unusable cache, a missing tool", async (t) => {
  const noCredentials = new MissingCredentialsError('none in config or environment, and no RAM role configured');
  t.equal(classifyDataFailure(noCredentials), DataFailureKind.NodeConfiguration);
  t.equal(classifyDataFailure(new StageError(URL, '/cache/x', noCredentials)), DataFailureKind.NodeConfiguration, 'found under the staging error that wraps it');
  t.equal(classifyDataFailure(new RetriesExhaustedError('x', 1, noCredentials)), DataFailureKind.NodeConfiguration);
  t.equal(classifyDataFailure(new OssAuthError('OSS does not know AccessKeyId "LTAI"', 'scenes', 'LTAI', 'InvalidAccessKeyId', 'R2')), DataFailureKind.NodeConfiguration);
  t.equal(classifyDataFailure(new StageCacheLockedError('/var/lib/qfarm/cache', 4242)), DataFailureKind.NodeConfiguration, 'two agents share a state dir');
  t.equal(classifyDataFailure(new NodeConfigurationError('mount.nfs missing')), DataFailureKind.NodeConfiguration);
  t.equal(classifyDataFailure(invalidUrl('s3://scenes/tex/')), DataFailureKind.NodeConfiguration, 'a scheme this agent does not know: the agent is older than the farm');
});

t.test("the user's own rights, outputs and data mapping are final on any node", async (t) => {
  t.equal(classifyDataFailure(new UserSideError('tar as user mallory failed', 'tar: /root/x: Cannot open: Permission denied')), DataFailureKind.User);
  const link = new UnsafeOutputError('loot', 'is a symbolic link');
  t.equal(classifyDataFailure(link), DataFailureKind.User);
  t.equal(classifyDataFailure(new OutputUploadError(URL, [{ path: 'loot', error: link }], 3)), DataFailureKind.User, 'an upload is classified by its first failure');
  t.equal(classifyDataFailure(new OutputUploadError(URL, [{ path: 'a', error: unavailable() }, { path: 'loot', error: link }], 0)), DataFailureKind.Transient);
  t.equal(classifyDataFailure(invalidUrl('oss://Not_A_Bucket/x')), DataFailureKind.User, "a malformed URL of the job's");
});

t.test('TaskDataError: only a transient kind is retryable, and a configuration error says who must act', async (t) => {
  const transient = new TaskDataError('input oss://scenes/ could not be staged to /data: 503', { kind: DataFailureKind.Transient });
  t.equal(transient.retryable, true);
  t.equal(transient.message, 'input oss://scenes/ could not be staged to /data: 503');
  const user = new TaskDataError('mount point /data belongs to uid 0', { kind: DataFailureKind.User });
  t.equal(user.retryable, false);
  const config = new TaskDataError('input oss://scenes/ could not be staged to /data: no OSS credentials: …', { kind: DataFailureKind.NodeConfiguration });
  t.equal(config.retryable, false);
  t.equal(config.kind, DataFailureKind.NodeConfiguration);
  t.match(config.message, /no OSS credentials: … \(a configuration problem of this node: an administrator must fix it; the task is not run again\)$/);
});
