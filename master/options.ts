import { HEARTBEAT_MS_MAX } from '../protocol/agent-messages.js';
import { DEFAULT_HEARTBEATS_PER_SECOND } from './heartbeat-pace.js';
import { DEFAULT_HOST_ERROR_AFTER } from './host-health.js';
import { DEFAULT_MAX_HOST_LOSSES, DEFAULT_NODE_FAILURE_ATTEMPTS } from './store/task-retries.js';
/** Master settings: each has a command-line flag and an environment override. */
export interface MasterOptions {
  /** Address to listen on. Default 127.0.0.1:6480 — only this machine; use 0.0.0.0 on a VPC master. */
  host: string;
  port: number;
  /** @default 5000 */
  heartbeatMs: number;
  /** Heartbeats a second the master takes; a larger farm heartbeats less often (heartbeat-pace.ts). @default 1000 */
  heartbeatsPerSecond: number;
  /** @default 60000: how long a vanished agent keeps its tasks before they are requeued. */
  leaseGraceMs: number;
  /** Log level for pino. @default info */
  logLevel: string;
  /** Consecutive failures that put a host in error state `E` (master/host-health.ts); 0: never. @default 3 */
  hostErrorAfter: number;
  /**
   * Node failures (results the agent marks retryable: staging, uploads) a task may have; each
   * but the last reruns it elsewhere. Lost leases and spot reclaims do not count
   * (master/store/task-retries.ts). @default 3
   */
  nodeFailureAttempts: number;
  /** Host losses a running task may suffer; the last ends it as `failed 100`. 0: no limit, as SGE. @default 10 */
  maxHostLosses: number;
  /**
   * Serve https/wss. `auto`: on when listening beyond loopback (traffic crosses a wire), off on
   * 127.0.0.1 / ::1. @default auto (env QFARM_TLS=1 forces it on)
   */
  tls: 'auto' | 'on';
  /** The admin's certificate and key (PEM); without them the master makes its own in QFARM_HOME/tls. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

export class MasterOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterOptionsError';
  }
}

export const MASTER_USAGE = `usage: qfarm master [--listen HOST:PORT] [--tls] [--tls-cert FILE --tls-key FILE] [--heartbeat-ms N]
                    [--heartbeats-per-second N] [--lease-grace-ms N] [--log-level LEVEL] [--host-error-after N]
                    [--node-failure-attempts N] [--max-host-losses N]

Runs the qfarm master daemon in the foreground, with its state in QFARM_HOME (default ~/.qfarm).
  --listen HOST:PORT     where agents and the CLI connect (default 127.0.0.1:6480, env QFARM_LISTEN;
                         port 0 picks a free port; the URL is written to QFARM_HOME/master.json)
  --tls                  serve https/wss (env QFARM_TLS=1); automatic when HOST is not loopback.
                         The certificate is made at first start in QFARM_HOME/tls/ and its SHA-256
                         fingerprint printed and written to master.json for clients to pin
  --tls-cert FILE        serve this PEM certificate instead (implies --tls)
  --tls-key FILE         ...with this PEM private key (keep it 0600)
  --heartbeat-ms N       agent heartbeat interval (default 5000, env QFARM_HEARTBEAT_MS); an agent
                         silent for 3 intervals is dropped and its tasks requeued after the grace
  --heartbeats-per-second N
                         the heartbeats the master takes: a farm larger than N × the interval
                         heartbeats less often, so the interval (and the time to notice a vanished
                         host) grows with it, ~20 s at 20,000 agents by default (default 1000,
                         env QFARM_HEARTBEATS_PER_SECOND; /metrics shows the interval in use)
  --lease-grace-ms N     how long a disconnected agent keeps its tasks before they are requeued
                         (default 60000, env QFARM_LEASE_GRACE_MS)
  --log-level LEVEL      trace|debug|info|warn|error (default info, env QFARM_LOG_LEVEL)
  --host-error-after N   put a host in error state E (no new tasks until qmod -c) after N consecutive
                         setup failures, or failures of N different jobs of two users or more
                         in a row; 0 never
                         (default 3, env QFARM_HOST_ERROR_AFTER)
  --node-failure-attempts N
                         a task its node fails (an input not staged, an output not uploaded) runs
                         again elsewhere until it has failed this way N times; 1 never reruns it.
                         Lost hosts and spot reclaims do not count (default 3,
                         env QFARM_NODE_FAILURE_ATTEMPTS)
  --max-host-losses N    a task whose host is lost while it runs is rerun elsewhere, up to N losses;
                         the Nth ends it as failed 100 (a task that brings its host down would
                         otherwise take down one after another); 0 no limit, as SGE
                         (default 10, env QFARM_MAX_HOST_LOSSES)`;

function positiveInt(name: string, text: string, unit = ' of milliseconds'): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new MasterOptionsError(`${name} must be a positive whole number${unit}, got "${text}"`);
  return n;
}

function heartbeatInterval(name: string, text: string): number {
  const n = positiveInt(name, text);
  if (n < 100 || n > HEARTBEAT_MS_MAX) throw new MasterOptionsError(`${name} must be between 100 and ${HEARTBEAT_MS_MAX} milliseconds, got "${text}"`);
  return n;
}

function nonNegativeInt(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new MasterOptionsError(`${name} must be a whole number (0 or more), got "${text}"`);
  return n;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^(\d+)$/.exec(text);
  if (!m) throw new MasterOptionsError(`--listen wants HOST:PORT (e.g. 0.0.0.0:6480), got "${text}"`);
  if (m.length === 2) return { host: '127.0.0.1', port: Number(m[1]) };
  const port = Number(m[3]);
  if (port > 65535) throw new MasterOptionsError(`port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function parseMasterOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): MasterOptions {
  const options: MasterOptions = {
    ...parseListen(env['QFARM_LISTEN'] ?? '127.0.0.1:6480'),
    heartbeatMs: env['QFARM_HEARTBEAT_MS'] ? heartbeatInterval('QFARM_HEARTBEAT_MS', env['QFARM_HEARTBEAT_MS']) : 5000,
    heartbeatsPerSecond: env['QFARM_HEARTBEATS_PER_SECOND'] ? positiveInt('QFARM_HEARTBEATS_PER_SECOND', env['QFARM_HEARTBEATS_PER_SECOND'], '') : DEFAULT_HEARTBEATS_PER_SECOND,
    leaseGraceMs: env['QFARM_LEASE_GRACE_MS'] ? positiveInt('QFARM_LEASE_GRACE_MS', env['QFARM_LEASE_GRACE_MS']) : 60000,
    logLevel: env['QFARM_LOG_LEVEL'] ?? 'info',
    hostErrorAfter: env['QFARM_HOST_ERROR_AFTER'] !== undefined ? nonNegativeInt('QFARM_HOST_ERROR_AFTER', env['QFARM_HOST_ERROR_AFTER']) : DEFAULT_HOST_ERROR_AFTER,
    nodeFailureAttempts: env['QFARM_NODE_FAILURE_ATTEMPTS'] !== undefined ? positiveInt('QFARM_NODE_FAILURE_ATTEMPTS', env['QFARM_NODE_FAILURE_ATTEMPTS'], '') : DEFAULT_NODE_FAILURE_ATTEMPTS,
    maxHostLosses: env['QFARM_MAX_HOST_LOSSES'] !== undefined ? nonNegativeInt('QFARM_MAX_HOST_LOSSES', env['QFARM_MAX_HOST_LOSSES']) : DEFAULT_MAX_HOST_LOSSES,
    tls: env['QFARM_TLS'] === '1' ? 'on' : 'auto',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new MasterOptionsError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--listen':
        Object.assign(options, parseListen(value()));
        break;
      case '--heartbeat-ms':
        options.heartbeatMs = heartbeatInterval(arg, value());
        break;
      case '--heartbeats-per-second':
        options.heartbeatsPerSecond = positiveInt(arg, value(), '');
        break;
      case '--lease-grace-ms':
        options.leaseGraceMs = positiveInt(arg, value());
        break;
      case '--host-error-after':
        options.hostErrorAfter = nonNegativeInt(arg, value());
        break;
      case '--node-failure-attempts':
        options.nodeFailureAttempts = positiveInt(arg, value(), '');
        break;
      case '--max-host-losses':
        options.maxHostLosses = nonNegativeInt(arg, value());
        break;
      case '--log-level':
        options.logLevel = value();
        break;
      case '--tls':
        options.tls = 'on';
        break;
      case '--tls-cert':
        options.tlsCertFile = value();
        options.tls = 'on';
        break;
      case '--tls-key':
        options.tlsKeyFile = value();
        options.tls = 'on';
        break;
      default:
        throw new MasterOptionsError(`unknown option "${arg}"\n${MASTER_USAGE}`);
    }
  }
  if (Boolean(options.tlsCertFile) !== Boolean(options.tlsKeyFile)) throw new MasterOptionsError('--tls-cert and --tls-key go together: give both files');
  return options;
}
