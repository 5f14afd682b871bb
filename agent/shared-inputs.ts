import type { Logger } from 'pino';
import type { DataMapping } from '../protocol/job-data.js';
import type { TaskDataUser } from './user-side-data.js';

/** A node path that a running task uses for another source, user or mode: refused to the later task. */
export class InputConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputConflictError';
  }
}

interface PublishedTree {
  source: string;
  uid: number;
  readOnly: boolean;
  /** Digest of the source when it was staged. */
  version: string;
  /** Tasks of this node using the tree now (not persisted: none survive an agent restart). */
  users: number;
  /** Trees this one replaced while tasks were inside them: removed when users reaches 0. */
  retired: string[];
  /** The user the tree belongs to, to remove retired trees as them. */
  owner: TaskDataUser | undefined;
  remove: TreeStaging['remove'];
}

/** What staging needs from the data side. */
export interface TreeStaging {
  /** The source's version now (OSS: digest of keys, ETags and sizes; file://: of names, sizes, times). */
  version(): Promise<string>;
  /** Whether the target holds a staging of this version already (its marker says so). */
  isPublished(version: string): Promise<boolean>;
  /**
   * Builds the tree and publishes it at the target in one step. `keepReplaced`: running tasks
   * may be inside the tree it replaces. Returns where the replaced tree was kept, if it was.
   */
  publish(opts: { keepReplaced: boolean; version: string }): Promise<{ replaced?: string }>;
  /** Removes a tree retired by a later staging (as its user). */
  remove(dir: string, owner: TaskDataUser): Promise<void>;
}

export type ReleaseInput = () => Promise<void>;

/**
 * Which input tree is published at which node path, and which running tasks use it. Every task
 * of a job usually maps the same input to the same path, so a tree is staged once per node per
 * (source, target, user) and reused: a task waits for the staging in progress and then sees the
 * complete, final tree from its first instruction. A marker next to the tree (written and read
 * by the user's processes) records the version it holds, so another agent of the machine, or
 * this one after a restart, reuses it too.
 *
 * - A read-only tree is staged again only when its source changed (its version: a digest of
 *   the listing); the new tree replaces the old one in one rename, and the old one stays (at a
 *   hidden sibling) until no running task uses it.
 * - A writable (`:rw`) tree is shared while tasks use it and staged afresh for the next one.
 * - A path that a running task uses for another source, user or mode is refused to the later task.
 */
export class SharedInputs {
  private readonly trees = new Map<string, PublishedTree>();
  /** Per target: decisions about one path are taken one at a time. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly log: Logger) {}

  /** Makes `mapping` available at its target for one task; the task calls the result when it ends. */
  async use(mapping: DataMapping, who: TaskDataUser, staging: TreeStaging): Promise<ReleaseInput> {
    await this.locked(mapping.target, () => this.acquire(mapping, who, staging));
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await this.locked(mapping.target, () => this.release(mapping.target));
    };
  }

  private async acquire(mapping: DataMapping, who: TaskDataUser, staging: TreeStaging): Promise<void> {
    const uid = who.identity.uid;
    const current = this.trees.get(mapping.target);
    const same = current !== undefined && current.source === mapping.source && current.uid === uid && current.readOnly === mapping.readOnly;
    if (current && current.users > 0 && !same) {
      const mode = (ro: boolean): string => (ro ? ':ro' : ':rw');
      throw new InputConflictError(
        `${mapping.target} on this node holds ${current.source}${mode(current.readOnly)} for uid ${current.uid}, used by ${current.users} running task(s); ` +
          `this task maps ${mapping.source}${mode(mapping.readOnly)} there for user ${who.identity.name}: map it to another path (one node path holds one input)`,
      );
    }
    if (current && same && current.users > 0 && !mapping.readOnly) {
      current.users++; // tasks of the node share the writable tree they map to one path
      return;
    }
    const version = mapping.readOnly ? await staging.version() : 'rw';
    if (current && same && mapping.readOnly && current.version === version) {
      current.users++;
      current.owner = who;
      return;
    }
    const keepReplaced = current !== undefined && current.users > 0;
    const reusable = mapping.readOnly && !current && (await staging.isPublished(version));
    const published = reusable ? {} : await staging.publish({ keepReplaced, version });
    const tree: PublishedTree = same ? current : { source: mapping.source, uid, readOnly: mapping.readOnly, version, users: 0, retired: [], owner: who, remove: staging.remove };
    tree.version = version;
    tree.owner = who;
    if (published.replaced) tree.retired.push(published.replaced);
    tree.users++;
    this.trees.set(mapping.target, tree);
  }

  private async release(target: string): Promise<void> {
    const tree = this.trees.get(target);
    if (!tree || tree.users === 0) return;
    tree.users--;
    if (tree.users > 0 || tree.retired.length === 0 || !tree.owner) return;
    const owner = tree.owner;
    for (const dir of tree.retired.splice(0)) await this.removeRetired(dir, owner, tree.remove);
  }

  /** Removes a retired tree as its user; its failure is logged, not the task's (which has ended). */
  private async removeRetired(dir: string, owner: TaskDataUser, remove: TreeStaging['remove']): Promise<void> {
    try {
      await remove(dir, owner);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir }, 'could not remove an input tree replaced by a newer staging; it stays hidden next to the target');
    }
  }

  private async locked<T>(target: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(target) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const tail = mine.catch(() => undefined);
    this.locks.set(target, tail);
    try {
      return await mine;
    } finally {
      if (this.locks.get(target) === tail) this.locks.delete(target);
    }
  }
}
