import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * qfarm-exec (native/qfarm-exec.c), the program every task's root half execs after the uid
 * switch. Every task user must be able to execute it, also when qfarm is installed where others
 * cannot traverse (under /root). So the agent copies it at start into a fresh directory of its
 * own: mkdtemp under tmpRoot (unpredictable name, created by the agent, so no user can have
 * planted it), 0755, the file 0555. A fixed path in /tmp would let a user pre-create it and
 * replace the binary other users' tasks exec.
 */
export interface ExecHelper {
  /** Absolute path of the private copy. */
  readonly path: string;
  /** Removes the copy (at agent exit). */
  remove(): void;
}

/** Where `npm install` (node-gyp) builds the helper, from agent/ in the sources or dist/agent/. */
function builtHelper(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../build/Release/qfarm-exec'), path.resolve(here, '../../build/Release/qfarm-exec')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`qfarm-exec is not built (looked in ${candidates.join(', ')}): run npm install (node-gyp rebuild) in the qfarm directory`);
  return found;
}

export function installExecHelper(tmpRoot: string = os.tmpdir()): ExecHelper {
  const source = builtHelper();
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'qfarm-exec.'));
  const target = path.join(dir, 'qfarm-exec');
  try {
    fs.chmodSync(dir, 0o755);
    // O_EXCL in a directory only we can write: the copy is exactly the built file.
    fs.copyFileSync(source, target, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(target, 0o555);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot install qfarm-exec into ${dir}: ${(err as Error).message}`);
  }
  return {
    path: target,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
