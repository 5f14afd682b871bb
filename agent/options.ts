import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { normaliseFingerprint } from '../protocol/tls-pin.js';
// The agent is the `qfarm agent` verb: its --help ends it the way every verb's does.
import { HelpRequested } from '../logging/help-requested.js';

/** Validated, defaulted settings of one agent process. */
export interface AgentOptions {
  /**
   * WebSocket URL of the master's agent endpoint, e.g. `ws://10.0.0.5:6444/agent`; or, with no
   * --master/QFARM_MASTER, a description of `masterFile`, which is read again before every dial.
   */
  masterUrl: string;
  /** `$QFARM_HOME/master.json` when the master is found through QFARM_HOME (same machine), else null. */
  masterFile: string | null;
  /** Agent token; never logged. */
  token: string;
  /**
   * SHA-256 fingerprint of the master's TLS certificate, pinned for a wss master (then no CA is
   * consulted). With masterFile, master.json's `tlsFingerprint` is used when this is unset.
   */
  tlsFingerprint: string | undefined;
  /** Host name this agent reports (qhost shows it). @default os.hostname() */
  name: string;
  /** Slots offered to the scheduler. @default number of CPUs */
  slots: number;
  /** Group (SGE queue) the agent belongs to. @default `default` */
  group: string;
  /** Free-form labels matched against `-l name=value` requests. */
  labels: Record<string, string>;
  /** Where the agent keeps its id. @default $QFARM_HOME/agent-<name> or ~/.qfarm/agent-<name> */
  stateDir: string;
  /** Upper bound of the reconnect backoff. @default 5000 */
  reconnectMaxMs: number;
  /** Size bound of the node-local input cache (`-data` inputs). @default 20 GiB */
  cacheMaxBytes: number;
  /** How long SIGTERM waits for running tasks before killing them. @default 60000 */
  drainTimeoutMs: number;
  /** Output bytes kept per attempt for replay; older output is dropped beyond this. @default 8 MiB */
  outputBufferBytes: number;
  /** Grace between SIGTERM and SIGKILL when a task is killed by qdel. @default 2000 */
  killGraceMs: number;
  /**
   * `qsub -notify`: time between SIGUSR2 and SIGKILL when such a task is deleted. SGE's queue
   * default is 60 s; qfarm's is 5 s so a deleted job frees its slot quickly. @default 5000
   */
  notifyMs: number;
  /** Log level for pino. @default info */
  logLevel: string;
  /** Path of the agent endpoint on the master. */
  socketPath: string;
  /** Poll the ECS metadata for a spot reclaim notice and drain on one. @default false (env QFARM_SPOT_WATCH=1) */
  spotWatch: boolean;
  /** Where tasks' TMPDIRs are made (a scratch disk). @default the system's temporary directory (env QFARM_TMP_ROOT) */
  tmpRoot: string | undefined;
  /**
   * Drain and exit when the parent process dies (the master that spawned this local agent was
   * killed): a new master starts its own agents, and this one must not linger under its name.
   * @default false
   */
  exitWithParent: boolean;
}

/** Where to dial and which certificate to accept there. */
export interface MasterTarget {
  url: string;
  tlsFingerprint: string | undefined;
}

/** The master right now: fixed, or read from master.json (a restarted master may have a new port). */
export function masterNow(opts: Pick<AgentOptions, 'masterUrl' | 'masterFile' | 'socketPath' | 'tlsFingerprint'>): MasterTarget {
  if (!opts.masterFile) return { url: opts.masterUrl, tlsFingerprint: opts.tlsFingerprint };
  let info: { url?: unknown; tlsFingerprint?: unknown };
  try {
    info = JSON.parse(fs.readFileSync(opts.masterFile, 'utf8')) as typeof info;
  } catch (err) {
    throw new Error(`cannot read the master address from ${opts.masterFile}: ${(err as Error).message}`);
  }
  if (typeof info.url !== 'string') throw new Error(`${opts.masterFile} has no "url"`);
  const published = typeof info.tlsFingerprint === 'string' ? normaliseFingerprint(info.tlsFingerprint) : undefined;
  return { url: agentSocketUrl(info.url, opts.socketPath), tlsFingerprint: opts.tlsFingerprint ?? published };
}

export function masterUrlNow(opts: Pick<AgentOptions, 'masterUrl' | 'masterFile' | 'socketPath' | 'tlsFingerprint'>): string {
  return masterNow(opts).url;
}

/** A bad command line or environment value; `main` prints it with the usage hint and exits 2. */
export class AgentOptionsError extends Error {
  constructor(
    readonly option: string,
    readonly problem: string,
  ) {
    super(`${option}: ${problem}`);
    this.name = 'AgentOptionsError';
  }
}

export const usage = `Usage: qfarm-agent --master URL --token TOKEN [options]

Runs tasks leased by a qfarm master on this machine.

  --master URL        master address: http://HOST:PORT, ws://HOST:PORT[/agent]  (env QFARM_MASTER;
                      default: the url in $QFARM_HOME/master.json, re-read at each reconnect)
  --token TOKEN       agent token from the master's QFARM_HOME/agent-token      (env QFARM_AGENT_TOKEN;
                      default: the content of $QFARM_HOME/agent-token)
  --tls-fingerprint SHA256  the https master's certificate fingerprint to pin (env QFARM_TLS_FINGERPRINT;
                      default: tlsFingerprint in $QFARM_HOME/master.json). The token is sent only
                      to a master showing exactly this certificate
  --name NAME         host name to report                 (default: this machine's hostname)
  --slots N           task slots offered                  (default: number of CPUs)
  --group G           group (queue) to join               (default: default)
  --labels k=v,k=v    labels matched against -l requests
  --state-dir DIR     where the agent keeps its id        (default: $QFARM_HOME/agent-NAME)
  --reconnect-max-ms N  cap of the reconnect backoff      (default: 5000)
  --cache-max-gb N      size bound of the input cache     (default: 20; in the state dir)
  --drain-timeout-ms N  wait for running tasks on SIGTERM (default: 60000)
  --output-buffer-bytes N  output kept per task for replay (default: 8388608)
  --kill-grace-ms N   SIGTERM→SIGKILL grace on qdel       (default: 0: SIGKILL at once, as SGE's qdel)
  --notify-ms N       SIGUSR2→SIGKILL on qdel of a -notify job (default: 5000; SGE's queue default 60 s;
                      env QFARM_NOTIFY_MS)
  --log-level LEVEL   trace|debug|info|warn|error         (default: info, env QFARM_LOG_LEVEL)
  --tmp-root DIR      where tasks' TMPDIRs are made, e.g. a scratch disk (default: the system's
                      temporary directory; env QFARM_TMP_ROOT)
  --spot-watch        on ECS spot instances: drain when the metadata announces a reclaim
                      (env QFARM_SPOT_WATCH=1; metadata URL from QFARM_METADATA_URL)
  --exit-with-parent  drain and exit when the process that started the agent dies (the master's
                      local provider uses it, so agents do not outlive a killed master)
  --help              show this text
`;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LABEL_KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Turns the master address people type (`http://host:port` as in master.json, or a ws URL) into
 * the WebSocket URL of the agent endpoint.
 */
export function agentSocketUrl(master: string, socketPath: string): string {
  let url: URL;
  try {
    url = new URL(master.includes('://') ? master : `ws://${master}`);
  } catch {
    throw new AgentOptionsError('--master', `"${master}" is not a URL (expected e.g. http://127.0.0.1:6444)`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new AgentOptionsError('--master', `unsupported scheme "${url.protocol}" (use http, https, ws or wss)`);
  url.protocol = scheme;
  if (url.pathname === '/' || url.pathname === '') url.pathname = socketPath;
  if (url.username || url.password) throw new AgentOptionsError('--master', 'credentials in the URL are not allowed; use --token');
  return url.toString();
}

/** Longest delay a Node timer supports (ms); used as the upper bound of every *-ms option. */
const MAX_MS = 2 ** 31 - 1;

function positiveInt(option: string, text: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text)) throw new AgentOptionsError(option, `"${text}" is not a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new AgentOptionsError(option, `must be at least ${min}, got ${text}`);
  if (n > max) throw new AgentOptionsError(option, `must be at most ${max}, got ${text}`);
  return n;
}

/** Parses `k=v,k=v`; keys are identifiers, values any text without a comma. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text.trim() === '') return labels;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new AgentOptionsError('--labels', `"${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    if (!LABEL_KEY_RE.test(key)) throw new AgentOptionsError('--labels', `label name "${key}" must be letters, digits, _ . -`);
    labels[key] = part.slice(eq + 1).trim();
  }
  return labels;
}

/**
 * Parses argv (without node and script) and the environment into AgentOptions.
 * Throws AgentOptionsError naming the option, or HelpRequested.
 */
export function parseAgentOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  defaults: { hostname: string; cpus: number; homedir: string; socketPath: string },
): AgentOptions {
  const raw = new Map<string, string>();
  const known = new Set([
    'master', 'token', 'tls-fingerprint', 'name', 'slots', 'group', 'labels', 'state-dir', 'reconnect-max-ms', 'cache-max-gb',
    'drain-timeout-ms', 'output-buffer-bytes', 'kill-grace-ms', 'notify-ms', 'log-level', 'tmp-root',
  ]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new HelpRequested(usage);
    if (arg === '--spot-watch' || arg === '--exit-with-parent') {
      raw.set(arg.slice(2), '1');
      continue;
    }
    if (!arg.startsWith('--')) throw new AgentOptionsError(arg, 'unexpected argument (see --help)');
    let key = arg.slice(2);
    let value: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    if (!known.has(key)) throw new AgentOptionsError(`--${key}`, 'unknown option (see --help)');
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new AgentOptionsError(`--${key}`, 'needs a value');
    }
    raw.set(key, value);
  }

  const home = env.QFARM_HOME || path.join(defaults.homedir, '.qfarm');
  const master = raw.get('master') ?? env.QFARM_MASTER;
  // Same machine as the master (qfarm up): find it like the CLI does, through QFARM_HOME.
  const masterFile = master ? null : path.join(home, 'master.json');
  if (masterFile && !fs.existsSync(masterFile)) {
    throw new AgentOptionsError('--master', `missing: pass --master URL, set QFARM_MASTER, or start the master with this QFARM_HOME (${masterFile} not found)`);
  }
  let token = raw.get('token') ?? env.QFARM_AGENT_TOKEN;
  if (!token) {
    try {
      token = fs.readFileSync(path.join(home, 'agent-token'), 'utf8').trim();
    } catch {
      // reported below
    }
  }
  if (!token) throw new AgentOptionsError('--token', `missing: pass --token or set QFARM_AGENT_TOKEN (the master writes it to ${path.join(home, 'agent-token')})`);

  const fingerprintText = raw.get('tls-fingerprint') ?? (env.QFARM_TLS_FINGERPRINT || undefined);
  let tlsFingerprint: string | undefined;
  if (fingerprintText !== undefined) {
    try {
      tlsFingerprint = normaliseFingerprint(fingerprintText);
    } catch (err) {
      throw new AgentOptionsError('--tls-fingerprint', (err as Error).message);
    }
  }

  const name = raw.get('name') ?? defaults.hostname;
  if (!NAME_RE.test(name)) throw new AgentOptionsError('--name', `"${name}" must be letters, digits, . _ - (at most 255)`);
  const group = raw.get('group') ?? 'default';
  if (!GROUP_RE.test(group)) throw new AgentOptionsError('--group', `"${group}" must be letters, digits, . _ - (at most 64)`);
  const slots = raw.has('slots') ? positiveInt('--slots', raw.get('slots')!) : Math.max(1, defaults.cpus);
  const labels = parseLabels(raw.get('labels') ?? '');
  const stateDir = path.resolve(raw.get('state-dir') ?? path.join(home, `agent-${name}`));
  const logLevel = raw.get('log-level') ?? env.QFARM_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new AgentOptionsError('--log-level', `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  return {
    masterUrl: master ? agentSocketUrl(master, defaults.socketPath) : `(url in ${masterFile})`,
    masterFile,
    socketPath: defaults.socketPath,
    token,
    tlsFingerprint,
    name,
    slots,
    group,
    labels,
    stateDir,
    reconnectMaxMs: raw.has('reconnect-max-ms') ? positiveInt('--reconnect-max-ms', raw.get('reconnect-max-ms')!, 10, MAX_MS) : 5000,
    cacheMaxBytes: (raw.has('cache-max-gb') ? positiveInt('--cache-max-gb', raw.get('cache-max-gb')!, 1, 1_000_000) : 20) * 1024 ** 3,
    drainTimeoutMs: raw.has('drain-timeout-ms') ? positiveInt('--drain-timeout-ms', raw.get('drain-timeout-ms')!, 0, MAX_MS) : 60_000,
    outputBufferBytes: raw.has('output-buffer-bytes')
      ? positiveInt('--output-buffer-bytes', raw.get('output-buffer-bytes')!, 1024)
      : 8 * 1024 * 1024,
    killGraceMs: raw.has('kill-grace-ms') ? positiveInt('--kill-grace-ms', raw.get('kill-grace-ms')!, 0, MAX_MS) : 0,
    notifyMs: raw.has('notify-ms')
      ? positiveInt('--notify-ms', raw.get('notify-ms')!, 0, MAX_MS)
      : env.QFARM_NOTIFY_MS !== undefined
        ? positiveInt('QFARM_NOTIFY_MS', env.QFARM_NOTIFY_MS, 0, MAX_MS)
        : 5000,
    logLevel,
    spotWatch: raw.has('spot-watch') || env.QFARM_SPOT_WATCH === '1',
    tmpRoot: raw.get('tmp-root') ?? (env.QFARM_TMP_ROOT || undefined),
    exitWithParent: raw.has('exit-with-parent'),
  };
}

/** Defaults taken from this machine. */
export function machineDefaults(socketPath: string): { hostname: string; cpus: number; homedir: string; socketPath: string } {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return { hostname: os.hostname(), cpus, homedir: os.homedir(), socketPath };
}
