/**
 * Thrown by `--help`/`-help` while parsing a command line: the process prints `text` (its usage)
 * to stdout and exits 0. Here rather than in cli/ because the agent's command line throws it too,
 * and the agent may not import cli/; like the log format, it is how every qfarm process talks to
 * the person who started it.
 */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}
