import { runTransaction, type Db } from './database.js';

/** Why a host cannot be removed now, in words for the administrator. */
export class HostRemovalError extends Error {
  constructor(
    message: string,
    readonly status: 404 | 409,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'HostRemovalError';
  }
}

/**
 * `qfarm host remove NAME`: forgets a host that no longer runs anything, so it leaves qhost
 * for good. Its history stays: attempts keep their host name, so qacct still shows where each
 * task ran. A connected host, or one still holding leases (they are requeued once its grace
 * period ends), is refused.
 */
export function removeHost(db: Db, hostname: string, isConnected: (agentId: string) => boolean): number {
  return runTransaction(db, () => {
    const ids = db.prepare('SELECT agent_id FROM hosts WHERE hostname = ?').pluck().all(hostname) as string[];
    if (ids.length === 0) throw new HostRemovalError(`host "${hostname}" is not known to this master`, 404, "'qfarm host list --all' lists every host");
    if (ids.some(isConnected)) {
      throw new HostRemovalError(`host "${hostname}" is connected`, 409, `stop its agent first (or 'qfarm host disable ${hostname}' to keep it from new work)`);
    }
    const active = db
      .prepare('SELECT COUNT(*) FROM attempts WHERE hostname = ? AND ended_at IS NULL')
      .pluck()
      .get(hostname) as number;
    if (active > 0) {
      throw new HostRemovalError(`host "${hostname}" still holds ${active} task(s)`, 409, 'they go back to the queue when its lease grace period ends; remove it after that');
    }
    return db.prepare('DELETE FROM hosts WHERE hostname = ?').run(hostname).changes;
  });
}
