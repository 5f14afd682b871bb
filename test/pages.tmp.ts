import * as fs from 'node:fs';
import { runTransaction } from '../master/store/database.js';
import { openTestStore, jobSubmission } from './helpers/test-store.js';
const teardowns: (() => void)[] = [];
const { db, file, transitions, reader } = openTestStore({ teardown: (f) => teardowns.push(f) }, 'pages');
db.pragma('wal_autocheckpoint = 0');
const N = 2000;
const hello = (i: number) => ({ protocolVersion: 1, agentVersion: 'b', agentId: `sim-${i}-${Math.random().toString(36).slice(2)}`, hostname: `sim-${i}`, group: 'default', arch: 'lx-amd64', cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1, memTotalBytes: 1 << 30, swapTotalBytes: 0, labels: {} });
const hosts = Array.from({ length: N }, (_, i) => hello(i));
runTransaction(db, () => { for (const h of hosts) transitions.upsertHost(h as never); });
const { jobId } = transitions.submitJob(jobSubmission({ array: { first: 1, last: 100000, step: 1 } } as never));
const walFrames = () => { const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[]; return r!.log; };
// warm: one round of lease/start/finish for every host
const round = (measure: boolean) => {
  const counts = { lease: 0, start: 0, finish: 0 };
  const leases: { attemptId: string }[] = [];
  for (const h of hosts) {
    // checkpoint so the WAL restarts; measure frames of one commit each
    walFrames();
    runTransaction(db, () => { const job = reader.job(jobId)!; leases.push(...transitions.leaseTasks(job, { agentId: h.agentId, hostname: h.hostname, group: 'default' }, 1)); });
    counts.lease += walFrames();
  }
  for (const l of leases) { walFrames(); runTransaction(db, () => transitions.markStarted(l.attemptId, 1, Date.now())); counts.start += walFrames(); }
  for (const l of leases) { walFrames(); runTransaction(db, () => transitions.commitResult({ type: 'finished', attemptId: l.attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: 1, endedAt: 2, usage: { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 } } as never)); counts.finish += walFrames(); }
  if (measure) console.log(`frames per commit: lease ${(counts.lease / N).toFixed(2)} start ${(counts.start / N).toFixed(2)} finish ${(counts.finish / N).toFixed(2)}`);
};
for (let r = 0; r < 5; r++) round(r === 4);
console.log('pages', db.pragma('page_count', { simple: true }));
for (const row of db.prepare("SELECT name, COUNT(*) AS pages FROM dbstat GROUP BY name ORDER BY pages DESC").all() as { name: string; pages: number }[]) console.log(row.name.padEnd(30), row.pages);
for (const f of teardowns) f();
