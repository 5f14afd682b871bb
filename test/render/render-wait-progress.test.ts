import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot } from '../helpers/unix-users.js';

/**
 * `qfarm render submit --wait` on a real farm, as an ordinary user, with a renderer that writes
 * one frame every 2 seconds in a single chunk: the wait is not silent, it prints the frames
 * actually written and an ETA (on stderr, a line every few seconds when not a terminal), and
 * the final status comes after.
 */

requireRoot();

t.test('render submit --wait prints progress with an ETA while a chunk writes its frames', async (t) => {
  const user = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const work = mkdtempSync(path.join(user.home, 'progress-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const renderer = path.join(work, 'slow-render');
  writeFileSync(renderer, '#!/bin/sh\nf=$2\nwhile [ "$f" -le "$3" ]; do sleep 2; echo "frame $f" > "$1/$(printf frame_%05d.png "$f")"; f=$((f + 1)); done\n');
  chmodSync(renderer, 0o755);
  chownSync(work, user.uid, user.gid);
  chownSync(renderer, user.uid, user.gid);
  const res = await farm.runAs(user, 'qfarm', ['render', 'submit', '-T', `${renderer} $OUTDIR $START $END`, '--expect', 'frame_#####.png', '-s', '1', '-e', '8', '-S', '8', '--outdir', 'frames', '-N', 'slow', '--wait'], { cwd: work });
  t.equal(res.code, 0, res.stderr);
  const progress = res.stderr.split('\n').filter((l) => l.startsWith('qfarm render: job '));
  t.comment(progress.join('\n'));
  t.ok(progress.length >= 2 && progress.length <= 6, `a line every few seconds, not a flood (${progress.length} lines over ~16 s)`);
  const partial = progress.find((l) => /written: [1-7]\/8 frames/.test(l));
  t.ok(partial, 'frames written by the running chunk are counted before the task ends');
  t.match(partial, /0\/8 frames done; written: [1-7]\/8 frames; \d+s elapsed, (ETA \d+s|ETA unknown yet)/);
  t.ok(progress.some((l) => /ETA \d+s/.test(l)), 'an ETA once frames come in');
  t.match(res.stdout, /frames: 8\/8 done, 0 failed, 0 running, 0 pending\nwritten: 8\/8 frames/, 'then the final status');

  // A file:// render uploaded nothing: `qfarm get` says where the frames are and what copies them.
  const jobId = /Your job-array (\d+)\./.exec(res.stdout)![1]!;
  const get = await farm.runAs(user, 'qfarm', ['get', jobId, 'copy'], { cwd: work });
  t.equal(get.code, 1);
  t.match(get.stderr, new RegExp(`qfarm get: render job ${jobId} wrote its frames straight into file://${work}/frames/?; nothing was uploaded to download`));
  t.match(get.stderr, new RegExp(`hint: 'qfarm render get ${jobId} DIR' copies its frames`));
  const renderGet = await farm.runAs(user, 'qfarm', ['render', 'get', jobId, 'copy'], { cwd: work });
  t.equal(renderGet.code, 0, renderGet.stderr);
  t.match(renderGet.stdout, /downloaded 8 file\(s\)/);
});
