import t from 'tap';
import { Outbox, type OutboxWarning } from '../../agent/outbox.js';
import { zeroUsage } from '../../protocol/agent-messages.js';

const finished = (attemptId: string) =>
  ({ type: 'finished', attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: 1, endedAt: 2, usage: zeroUsage() }) as const;

t.test('keeps frames until ack, replays in order', async (t) => {
  const box = new Outbox(1 << 20, () => t.fail('no warning expected'));
  box.started({ type: 'started', attemptId: 'a', pid: 5, startedAt: 1 });
  t.equal(box.output('a', 'stdout', Buffer.from('x')).seq, 0);
  t.equal(box.output('a', 'stderr', Buffer.from('y')).seq, 1, 'seq counts across streams');
  box.output('b', 'stdout', Buffer.from('z'));
  t.same(box.unackedResults(), []);
  t.notOk(box.ack('a'), 'no ack before the result exists');
  box.finished(finished('a'));
  t.same(box.unackedResults(), ['a']);
  t.same([...box.replay()].map((f) => `${f.type}:${f.attemptId}`), ['started:a', 'output:a', 'output:a', 'finished:a', 'output:b']);
  t.ok(box.ack('a'));
  t.notOk(box.ack('a'), 'second ack ignored');
  t.same([...box.replay()].map((f) => f.attemptId), ['b']);
  box.drop('b');
  t.same([...box.replay()], []);
});

t.test('bounded output: oldest chunks dropped with a warning, result kept', async (t) => {
  const warnings: OutboxWarning[] = [];
  const box = new Outbox(1024, (w) => warnings.push(w));
  box.started({ type: 'started', attemptId: 'a', pid: 5, startedAt: 1 });
  for (let i = 0; i < 10; i++) box.output('a', 'stdout', Buffer.alloc(300, i));
  box.finished(finished('a'));
  const frames = [...box.replay()];
  const seqs = frames.flatMap((f) => (f.type === 'output' ? [f.seq] : []));
  t.same(seqs, [7, 8, 9], 'newest output within 1024 bytes');
  t.equal(frames[0]?.type, 'started');
  t.equal(frames.at(-1)?.type, 'finished');
  t.equal(warnings.length, 1, 'warned once');
  t.equal(warnings[0]?.attemptId, 'a');
});

t.test('kept and restored: a successor process replays the same frames with the same seq', async (t) => {
  const first = new Outbox(1 << 20, () => t.fail('no warning expected'));
  t.equal(first.kept('a'), undefined, 'nothing to store before the result');
  first.started({ type: 'started', attemptId: 'a', pid: 5, startedAt: 1 });
  first.output('a', 'stdout', Buffer.from('one\n'));
  first.output('a', 'stderr', Buffer.from('two\n'));
  first.finished(finished('a'));
  const kept = JSON.parse(JSON.stringify(first.kept('a'))); // as the result store writes and reads it

  const successor = new Outbox(1 << 20, () => t.fail('no warning expected'));
  successor.restore(kept);
  t.same([...successor.replay()], [...first.replay()], 'started, both chunks and finished, unchanged');
  t.same(successor.unackedResults(), ['a'], 'listed in hello');
  t.same(successor.unsent(), [...first.replay()], 'sent after welcome');
  t.ok(successor.ack('a'), 'and forgotten on ack');
});
