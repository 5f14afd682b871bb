import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import type { JobRow } from '../store/job-reader.js';
import { RequestRefusedError } from '../api/errors.js';
import { anyExtensionStem, frameFileName } from '../../render/frame-names.js';
import { manifestTaskFrames, RUNTIME_OUTDIR, type AnyManifest } from '../../render/manifest.js';

/** At most this many frames in one download (a browser link, not a bulk transfer tool). */
const MAX_FRAMES = 20_000;

/**
 * The frames of a render job with `file://` output as one tar stream. The root master never
 * opens the user's files: `tar` runs as the job's owner (setpriv, minimal environment, in /), so
 * the kernel checks the owner's rights on every path and link, and a pattern naming someone
 * else's file yields what the owner could read anyway. `oss://` frames: `qfarm render get`.
 */
export function streamFramesTar(job: JobRow, manifest: AnyManifest, doneTasks: readonly number[], res: ServerResponse): void {
  if (manifest.outputDir === RUNTIME_OUTDIR) throw new RequestRefusedError(409, `the frames of job ${job.id} are in ${manifest.kind === 'render' ? manifest.output : 'object storage'}`, `download them with: qfarm render get ${job.id} DIR`);
  if (!manifest.pattern) throw new RequestRefusedError(409, `job ${job.id} names no frame files (no --expect pattern)`, `download them with: qfarm render get ${job.id} DIR`);
  const frames = doneTasks.flatMap((task) => (manifest.kind === 'render' ? manifestTaskFrames(manifest, task) : [manifest.frames[task - 1]!].filter((f) => f !== undefined)));
  if (frames.length === 0) throw new RequestRefusedError(404, `job ${job.id} has no finished frames yet`);
  if (frames.length > MAX_FRAMES) throw new RequestRefusedError(413, `job ${job.id} has ${frames.length} frames, more than ${MAX_FRAMES} for one download`, `use qfarm render get ${job.id} DIR`);
  const owner = (JSON.parse(job.spec) as { submitter: { user: string; uid: number; gid: number; home: string } }).submitter;
  const tar = tarArgv(manifest.outputDir, manifest.pattern, frames);
  const self = process.getuid?.();
  if (self !== 0 && self !== owner.uid) throw new RequestRefusedError(403, `the master runs as uid ${self}, so it cannot read the frames as ${owner.user}`, `use qfarm render get ${job.id} DIR`);
  const argv = self === owner.uid ? tar : ['/usr/bin/setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', '--', ...tar];
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: owner.home, USER: owner.user, LOGNAME: owner.user, LANG: 'C.UTF-8' };
  const child = spawn(argv[0]!, argv.slice(1), { cwd: '/', env, stdio: ['ignore', 'pipe', 'ignore'] });
  res.writeHead(200, { 'content-type': 'application/x-tar', 'content-disposition': `attachment; filename="job-${job.id}-frames.tar"`, 'x-content-type-options': 'nosniff' });
  child.stdout.pipe(res);
  // A closed page stops the tar; a failed tar ends the download short (the browser shows it failed).
  res.on('close', () => child.kill('SIGKILL'));
  child.on('error', () => res.destroy());
  child.on('close', (code) => (code === 0 || code === 1 ? res.end() : res.destroy()));
}

/**
 * tar of the frames' files. A `frame_#####.*` pattern (the scene's format decides the
 * extension) is matched by the owner's shell: each frame's name quoted, its `.*` a glob.
 */
function tarArgv(dir: string, pattern: string, frames: readonly number[]): string[] {
  const stem = anyExtensionStem(pattern);
  if (stem === null) return ['tar', '--create', '--file=-', '--ignore-failed-read', `--directory=${dir}`, '--', ...frames.map((f) => frameFileName(pattern, f))];
  const script = 'cd -- "$0" || exit 2; for name do for file in "$name".*; do [ -f "$file" ] && printf "%s\\0" "$file"; done; done | tar --create --file=- --null --no-recursion --files-from=-';
  return ['/bin/sh', '-c', script, dir, ...frames.map((f) => frameFileName(stem, f))];
}
