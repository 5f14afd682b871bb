import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Puts `src` at `dest`: a hard link (read-only inputs) or a private copy. Replacing an existing
 * file goes through a temporary name and rename(2), so a task reading `dest` meanwhile (another
 * task on the node, or another agent sharing the path) never finds it missing or half written.
 */
export async function materialise(src: string, dest: string, copy: boolean): Promise<void> {
  if (!copy) {
    try {
      await link(src, dest);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // Already this very entry (re-staging an unchanged object): nothing to do. This also
        // matters for correctness: rename(2) between two links of one inode does nothing and
        // would leave the temporary name behind.
        const [have, want] = await Promise.all([stat(dest).catch(() => undefined), stat(src)]);
        if (have && have.ino === want.ino && have.dev === want.dev) return;
        const temp = hiddenTemp(dest);
        try {
          await link(src, temp);
          await rename(temp, dest);
          await unlink(temp).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOENT') throw e;
          });
          return;
        } catch (inner) {
          await unlink(temp).catch(() => undefined); // best effort: the error below says what failed
          const innerCode = (inner as NodeJS.ErrnoException).code;
          if (innerCode !== 'EXDEV' && innerCode !== 'EPERM' && innerCode !== 'EMLINK' && innerCode !== 'ENOTSUP') throw inner;
        }
      } else if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') {
        throw err;
      }
    }
  }
  const temp = hiddenTemp(dest);
  await copyFile(src, temp);
  if (copy) await chmod(temp, 0o644);
  await rename(temp, dest);
}

/** A temporary name next to `dest` that globs and `ls` do not show while it exists. */
function hiddenTemp(dest: string): string {
  return join(dirname(dest), `.${basename(dest)}.qfarm-${randomBytes(6).toString('hex')}`);
}
