import type { TaskAssignment } from '../protocol/agent-messages.js';

/**
 * The argv that starts a task. Everything goes through `/bin/sh -c 'exec "$0" "$@"'` with the
 * values as positional parameters (never interpolated into the script): a missing command then
 * fails exactly as under SGE (exit 127, "not found" on stderr), and `-j y` can merge the streams
 * in the child (`exec 2>&1`) so their order is kept.
 */
export function taskArgv(assignment: TaskAssignment, scriptFile: string | null): string[] {
  const target =
    assignment.command.kind === 'binary'
      ? assignment.command.argv
      : [assignment.shell || '/bin/sh', scriptFile ?? '', ...assignment.command.args];
  const merge = assignment.joinOutput && !assignment.pty ? 'exec 2>&1; ' : '';
  return ['/bin/sh', '-c', `${merge}exec "$0" "$@"`, ...target];
}

/** File name for a script job inside the task's TMPDIR (the submitted name, made harmless). */
export function scriptFileName(assignment: TaskAssignment): string {
  if (assignment.command.kind !== 'script') return 'script';
  const base = assignment.command.scriptName.split('/').pop() ?? '';
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return safe === '' || safe === 'STDIN' ? 'STDIN.sh' : safe;
}
