import type { Db } from '../store/database.js';
import { hostReader } from '../store/host-reader.js';
import { RequestRefusedError } from './errors.js';

/**
 * `qsub -q LIST` names queues that exist, or the job is refused at submit as SGE 8.1.9 does
 * (test/fixtures/sge/operating.txt): a job for a queue nobody serves would wait forever.
 * A queue is a group (created with `qfarm group create`, or joined by a hand-started agent);
 * `group@host` also needs a host the master has seen. Wildcards must match something.
 */
export function checkQueueList(db: Db, queueList: string | undefined): void {
  if (queueList === undefined || queueList.trim() === '') return;
  const known = hostReader(db).knownQueues();
  const groups = new Set(known.groups);
  const hosts = known.hosts;
  for (const entry of queueList.split(',').map((e) => e.trim())) {
    const at = entry.indexOf('@');
    const queue = at < 0 ? entry : entry.slice(0, at);
    const host = at < 0 ? undefined : entry.slice(at + 1);
    const queueKnown = queue === '' || anyMatches(queue, groups);
    const hostKnown = host === undefined || anyMatches(host, hosts);
    if (!queueKnown || !hostKnown) {
      throw new RequestRefusedError(
        400,
        `Job was rejected because job requests unknown queue "${entry}"`,
        `the farm's queues (groups) are: ${[...groups].sort().join(', ') || '(none yet)'}; see qfarm group list and qhost`,
      );
    }
  }
}

function anyMatches(pattern: string, names: Iterable<string>): boolean {
  const re = globToRegExp(pattern);
  for (const name of names) if (re.test(name)) return true;
  return false;
}

/** SGE's wildcards in queue and host names: `*`, `?` and `[...]`. */
function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else if (ch === '[' || ch === ']') source += ch;
    else source += ch.replace(/[.+^${}()|\\/-]/g, '\\$&');
  }
  try {
    return new RegExp(`^${source}$`);
  } catch {
    return new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')}$`);
  }
}
