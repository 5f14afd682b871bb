import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** An account as the user database (getent: /etc/passwd, NSS) knows it. */
export interface Account {
  user: string;
  uid: number;
  gid: number;
  group: string;
  home: string;
}

export class UnknownUserError extends Error {
  constructor(readonly who: string) {
    super(`user ${who} is not in this machine's user database (getent passwd ${who} finds nothing)`);
    this.name = 'UnknownUserError';
  }
}

const CACHE_MS = 30_000;
const NAME = /^[a-z_][a-z0-9_.-]{0,63}\$?$/i;

/**
 * Looks accounts up with getent (so NSS sources such as LDAP count, as for `id`), caching each
 * answer briefly: a farm's users submit in bursts, and a renamed or removed account is picked
 * up within half a minute.
 */
export class UserDatabase {
  private readonly cache = new Map<string, { at: number; account: Promise<Account> }>();

  constructor(private readonly now: () => number = Date.now) {}

  byUid(uid: number): Promise<Account> {
    if (!Number.isInteger(uid) || uid < 0) return Promise.reject(new UnknownUserError(String(uid)));
    return this.cached(`uid:${uid}`, String(uid));
  }

  byName(name: string): Promise<Account> {
    // Never hand getent something that looks like an option or a number (a number is a uid).
    if (!NAME.test(name)) return Promise.reject(new UnknownUserError(JSON.stringify(name)));
    return this.cached(`name:${name}`, name);
  }

  private cached(key: string, query: string): Promise<Account> {
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < CACHE_MS) return hit.account;
    const account = lookup(query);
    this.cache.set(key, { at: this.now(), account });
    account.catch(() => this.cache.delete(key));
    return account;
  }
}

async function lookup(query: string): Promise<Account> {
  let passwd: string;
  try {
    passwd = (await run('getent', ['passwd', query], { encoding: 'utf8', timeout: 5000 })).stdout.trim();
  } catch {
    throw new UnknownUserError(query);
  }
  const [user, , uid, gid, , home] = passwd.split('\n')[0]!.split(':');
  if (!user || uid === undefined || gid === undefined || home === undefined) throw new UnknownUserError(query);
  let group = gid;
  try {
    group = (await run('getent', ['group', gid], { encoding: 'utf8', timeout: 5000 })).stdout.split(':')[0] || gid;
  } catch {
    // A primary group missing from the group database: `id -gn` prints the number too.
  }
  return { user, uid: Number(uid), gid: Number(gid), group, home };
}
