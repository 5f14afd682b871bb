import { destination, type DestinationStream } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, shown in the line's head rather than as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component', 'name', 'v']);

/**
 * Where the master and the agent log: JSON lines (for journald, files and log shippers), or, for
 * a person at a terminal, one readable line each: `20:31:05 INFO  hub: agent online host=vm-1 slots=2`.
 * QFARM_LOG_FORMAT=json|pretty chooses; the default is pretty when stderr is a terminal.
 * `sync`: write each line before returning (the agent logs right before it exits).
 */
export function logDestination(env: NodeJS.ProcessEnv = process.env, isTty = process.stderr.isTTY === true, sync = false): DestinationStream {
  const format = env['QFARM_LOG_FORMAT'] ?? (isTty ? 'pretty' : 'json');
  if (format !== 'pretty') return destination({ dest: 2, sync });
  // process.stderr is synchronous on terminals and pipes (Node on Linux), so `sync` holds here too.
  return { write: (line: string) => void process.stderr.write(prettyLine(line)) };
}

/** One JSON log line as a readable line; a line that is not JSON passes through unchanged. */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(typeof entry['time'] === 'number' ? entry['time'] : Date.now()).toTimeString().slice(0, 8);
  const level = LEVELS[entry['level'] as number] ?? String(entry['level']);
  // The master's loggers name a component (hub, api); the agent's logger is named qfarm-agent.
  const source = entry['component'] ?? entry['name'];
  const component = typeof source === 'string' ? `${source}: ` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  return `${time} ${level} ${component}${String(entry['msg'] ?? '')}${fields.length > 0 ? ' ' + fields.join(' ') : ''}\n`;
}
