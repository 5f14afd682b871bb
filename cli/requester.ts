import os from 'node:os';

/** Who runs the command, as the master checks ownership (`root has deleted job 8`). */
export function requesterName(): string {
  return os.userInfo().username;
}
