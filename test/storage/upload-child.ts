/**
 * Child process for the crash-resume test: uploads one file with multipart, one part at a time,
 * and gets killed (SIGKILL) part-way by the test. argv: endpoint keyId secret bucket key file checkpointDir
 */
import { OssStore } from '../../storage/oss-store.js';
import { StaticCredentials } from '../../storage/oss-credentials.js';

if (process.argv.length < 9) {
  // Run directly by `npx tap test/storage/`: not a test, say so in TAP and leave.
  process.stdout.write('1..0 # SKIP helper process for multipart-crash.test.ts\n');
  process.exit(0);
}
const [endpoint, keyId, secret, bucket, key, file, checkpointDir] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const store = new OssStore({
  bucket,
  endpoint,
  credentials: new StaticCredentials({ accessKeyId: keyId, accessKeySecret: secret }, 'test'),
  checkpointDir,
  multipartThreshold: 200 * 1024,
  partSize: 100 * 1024,
  parallel: 1,
});
await store.put(key, file);
process.stdout.write('uploaded\n');
