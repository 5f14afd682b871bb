import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Submitter } from '../protocol/job-spec.js';

/** Name of a group id from /etc/group; the id itself when the group is not listed there. */
export function groupName(gid: number, groupFile = '/etc/group'): string {
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // No /etc/group (a minimal container): the numeric id is what `id -gn` would print too.
    return String(gid);
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && Number(id) === gid) return name;
  }
  return String(gid);
}

/** The person running the CLI, as the master records and the agent runs tasks as. */
export function currentSubmitter(): Submitter {
  const info = os.userInfo();
  const uid = info.uid >= 0 ? info.uid : 0;
  const gid = info.gid >= 0 ? info.gid : 0;
  return { user: info.username, uid, gid, group: groupName(gid), home: info.homedir };
}
