#!/usr/bin/env node
/**
 * `npm run bench:agents`: the master's ceiling. A real master (store, hub, scheduler, API) in
 * this process and N simulated agents in processes of their own (bench/agent-swarm.ts, up to
 * 10,000 each), speaking the real agent protocol over real WebSockets (bench/agent-simulator.ts),
 * so what is measured here is the master's alone. Prints, in order:
 *   - join time of N agents (hello → welcome, 200 connecting at a time per agent process);
 *   - idle RSS and CPU of the master while the N agents only send heartbeats (and the agents'
 *     processes' CPU beside it);
 *   - saturated tasks/s: an array of zero-length tasks, as fast as the master leases and commits;
 *   - refill p50/p99 at --load: tasks as long as makes the farm ask load × the saturated rate of
 *     the master, every slot busy; refill = an agent's `finished` sent → its next `assign` in
 *     (first tasks of the phase are shortened at random so the load is steady, not in waves);
 *     the same measured inside the master (qfarm_slot_refill_seconds: result frame in →
 *     assignment out, without the simulated agents' own delays); the master's CPU, how busy its
 *     event loop was, its delay, and the store's commits and WAL checkpoints over the phase;
 *   - RSS with a 1,000,000-task array queued (held, so nothing runs).
 * Jobs are submitted with the real qsub over QFARM_HOME/api.sock.
 *
 *   node dist/bench/agents.js [--agents 2000] [--task-ms 0] [--jitter 0.2] [--load 0.4]
 *                             [--tasks 20000] [--heartbeat-ms 5000] [--idle-s 15] [--array 1000000]
 *                             [--agents-per-process 10000]
 * Real agents are machines of their own; simulated ones share a process, and its garbage
 * collections (2.5-17 ms with 2,000 agents) delay every agent in it at once: fewer agents per
 * process spread those pauses, as real machines do, on the same two cores.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pino, destination } from 'pino';
import { Master } from '../master/master.js';
import { resolveHome } from '../master/home.js';
import { DEFAULT_HEARTBEATS_PER_SECOND } from '../master/heartbeat-pace.js';
import { DEFAULT_TASK_RETRY_POLICY } from '../master/store/task-retries.js';
import { ROOT } from './embedded-farm.js';
import { MAX_SWARM_SIZE, Swarm } from './agent-swarm.js';

interface BenchOptions {
  agents: number;
  taskMs: number;
  jitter: number;
  load: number;
  tasks: number;
  heartbeatMs: number;
  heartbeatsPerSecond: number;
  idleSeconds: number;
  array: number;
  agentsPerProcess: number;
}

const USAGE = 'usage: node dist/bench/agents.js [--agents N] [--task-ms MS] [--jitter 0..1] [--load 0..1] [--tasks N] [--heartbeat-ms MS] [--heartbeats-per-second N] [--idle-s S] [--array N] [--agents-per-process N]';

function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = { agents: 2000, taskMs: 0, jitter: 0.2, load: 0.4, tasks: 20_000, heartbeatMs: 5000, heartbeatsPerSecond: DEFAULT_HEARTBEATS_PER_SECOND, idleSeconds: 15, array: 1_000_000, agentsPerProcess: MAX_SWARM_SIZE };
  const keys: Record<string, keyof BenchOptions> = {
    '--agents': 'agents', '--task-ms': 'taskMs', '--jitter': 'jitter', '--load': 'load', '--tasks': 'tasks',
    '--heartbeat-ms': 'heartbeatMs', '--heartbeats-per-second': 'heartbeatsPerSecond', '--idle-s': 'idleSeconds', '--array': 'array', '--agents-per-process': 'agentsPerProcess',
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  for (let i = 0; i < argv.length; i += 2) {
    const key = keys[argv[i]!];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isFinite(value) || value < 0) throw new Error(`bad option ${argv[i]} ${argv[i + 1] ?? ''}; ${USAGE}`);
    options[key] = value;
  }
  if (options.jitter > 1 || options.load <= 0 || options.load > 1) throw new Error(`--jitter wants 0..1 and --load 0 < x <= 1; ${USAGE}`);
  if (!Number.isInteger(options.agentsPerProcess) || options.agentsPerProcess < 1 || options.agentsPerProcess > MAX_SWARM_SIZE) {
    throw new Error(`--agents-per-process wants 1..${MAX_SWARM_SIZE}; ${USAGE}`);
  }
  return options;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** qsub as the bench's user (root) over the master's unix socket (asynchronously: the master is in this process). */
async function qsub(home: string, args: string[]): Promise<void> {
  const argv = ['-terse', '-q', 'default', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', ...args, '/bin/true'];
  try {
    await promisify(execFile)(path.join(ROOT, 'bin', 'qsub'), argv, { env: { ...process.env, QFARM_HOME: home, QFARM_MASTER: '', QFARM_TOKEN: '' } });
  } catch (err) {
    throw new Error(`qsub ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

/** This process's CPU share (1.0 = one core) over a window, and the window's length. */
async function cpuOver(ms: number): Promise<{ share: number; ms: number }> {
  const before = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  const used = process.cpuUsage(before);
  const window = performance.now() - t0;
  return { share: (used.user + used.system) / 1000 / window, ms: window };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  out(`bench:agents: ${options.agents} agents, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const homeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-bench-agents-'));
  const home = resolveHome({ QFARM_HOME: homeDir });
  const master = new Master(
    home,
    { host: '127.0.0.1', port: 0, heartbeatMs: options.heartbeatMs, heartbeatsPerSecond: options.heartbeatsPerSecond, leaseGraceMs: 60_000, logLevel: 'warn', tls: 'auto', hostErrorAfter: 0, ...DEFAULT_TASK_RETRY_POLICY },
    pino({ level: 'warn' }, destination(2)),
  );
  const url = await master.start();
  const token = fs.readFileSync(home.agentTokenFile, 'utf8').trim();

  const swarms: Swarm[] = [];
  const perProcess = options.agentsPerProcess;
  for (let first = 0; first < options.agents; first += perProcess) swarms.push(new Swarm());
  const tasksDone = async (): Promise<number> => (await Promise.all(swarms.map((s) => s.progress()))).reduce((n, p) => n + p.tasksDone, 0);
  const swarmCpuMs = async (): Promise<number> => (await Promise.all(swarms.map((s) => s.progress()))).reduce((n, p) => n + p.cpuMs, 0);
  try {
    // ---- join
    const joinStart = performance.now();
    await Promise.all(swarms.map((s, i) => s.join(url, token, i * perProcess, Math.min(perProcess, options.agents - i * perProcess), `sim-${process.pid}`)));
    const joinMs = performance.now() - joinStart;
    out(`join:       ${options.agents} agents in ${(joinMs / 1000).toFixed(2)} s (${(options.agents / (joinMs / 1000)).toFixed(0)} agents/s; ${swarms.length} agent process${swarms.length > 1 ? 'es' : ''})`);

    // ---- idle
    const heartbeatMs = master.hub.heartbeatMs();
    await sleep(heartbeatMs); // every agent's first heartbeat at this pace is out
    const swarmBefore = await swarmCpuMs();
    const idle = await cpuOver(options.idleSeconds * 1000);
    const swarmIdle = ((await swarmCpuMs()) - swarmBefore) / idle.ms;
    out(
      `idle:       master RSS ${mib(process.memoryUsage().rss)}, CPU ${(idle.share * 100).toFixed(1)} % of one core over ${options.idleSeconds} s ` +
        `(heartbeat every ${heartbeatMs} ms: ${(options.agents / (heartbeatMs / 1000)).toFixed(0)} a second; the simulated agents' process: ${(swarmIdle * 100).toFixed(1)} %)`,
    );

    // ---- saturated
    const runArray = async (tasks: number): Promise<number> => {
      const t0 = performance.now();
      await qsub(homeDir, ['-t', `1-${tasks}`]);
      while ((await tasksDone()) < tasks) await sleep(20);
      return performance.now() - t0;
    };
    for (const s of swarms) s.work({ taskMs: 0, jitter: 0 });
    const saturatedMs = await runArray(options.tasks);
    const saturatedRate = options.tasks / (saturatedMs / 1000);
    out(`saturated:  ${options.tasks} zero-length tasks in ${(saturatedMs / 1000).toFixed(2)} s: ${saturatedRate.toFixed(0)} tasks/s (qsub call included)`);

    // ---- refill at a load
    const taskMs = options.taskMs > 0 ? options.taskMs : (options.agents / (options.load * saturatedRate)) * 1000;
    for (const s of swarms) s.work({ taskMs, jitter: options.jitter });
    // The master's event loop over the phase: a refill cannot be quicker than the loop is free.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const loopUseBefore = performance.eventLoopUtilization();
    const refillTasks = Math.max(options.agents * 5, Math.round(options.load * saturatedRate * 10));
    // The master's own measure, over the steady part as below (the first wave goes out at once).
    const steadyAfterMs = taskMs * (1 + options.jitter);
    const steadyTimer = setTimeout(() => master.hub.refills.reset(), steadyAfterMs);
    const masterCpuBefore = process.cpuUsage();
    const turnsBefore = { turns: master.tick.turns, items: master.tick.items, checkpoints: master.checkpointer?.checkpoints ?? 0, fallbacks: master.checkpointer?.fallbacks ?? 0 };
    const refillMs = await runArray(refillTasks);
    const masterCpu = process.cpuUsage(masterCpuBefore);
    const loopUse = performance.eventLoopUtilization(loopUseBefore);
    const turns = master.tick.turns - turnsBefore.turns;
    const items = master.tick.items - turnsBefore.items;
    loopDelay.disable();
    const ends = await Promise.all(swarms.map((s) => s.phaseEnd()));
    const gaps = ends.flatMap((e) => e.gaps).sort((a, b) => a - b);
    const steady = ends.flatMap((e) => e.steadyGaps).sort((a, b) => a - b);
    out(
      `refill:     tasks of ${taskMs.toFixed(0)} ms ± ${(options.jitter * 100).toFixed(0)} % on every slot (${(options.load * 100).toFixed(0)} % of the saturated rate): ` +
        `${refillTasks} tasks in ${(refillMs / 1000).toFixed(1)} s, refill p50 ${percentile(gaps, 0.5).toFixed(1)} ms, p99 ${percentile(gaps, 0.99).toFixed(1)} ms (${gaps.length} refills)`,
    );
    clearTimeout(steadyTimer);
    const inMaster = master.hub.refills.summary();
    // The phase starts with one assignment per agent; a slot freed while that wave is still
    // going out waits behind it. Steady state: slots freed after the first task length.
    out(`            steady (slots freed after the first ${(steadyAfterMs / 1000).toFixed(1)} s): refill p50 ${percentile(steady, 0.5).toFixed(1)} ms, p99 ${percentile(steady, 0.99).toFixed(1)} ms (${steady.length} refills)`);
    // What the master alone adds (qfarm_slot_refill_seconds): the simulated agents' event loop
    // and GC, on the same 2 cores, are in every sample above.
    const ms = (seconds: number): string => (seconds * 1000).toFixed(1);
    out(`            steady in the master (result frame in → assignment out): refill p50 ${ms(inMaster.p50)} ms, p90 ${ms(inMaster.p90)} ms, p99 ${ms(inMaster.p99)} ms, max ${ms(inMaster.max)} ms (${inMaster.count} refills)`);
    out(
      `            master over the phase: CPU ${(((masterCpu.user + masterCpu.system) / 1000 / refillMs) * 100).toFixed(0)} % of one core (its event loop busy ${(loopUse.utilization * 100).toFixed(0)} % of the time), event-loop delay p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} ms, ` +
        `p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms; the agents' process loop p99 ${Math.max(...ends.map((e) => e.loopP99Ms)).toFixed(1)} ms`,
    );
    const checkpoints = (master.checkpointer?.checkpoints ?? 0) - turnsBefore.checkpoints;
    const fallbacks = (master.checkpointer?.fallbacks ?? 0) - turnsBefore.fallbacks;
    out(
      `            store: ${(turns / (refillMs / 1000)).toFixed(0)} commits a second, ${(items / Math.max(1, turns)).toFixed(1)} frames and passes each; ` +
        `WAL checkpoints: ${checkpoints} on the store's thread, ${fallbacks} by the master`,
    );

    // ---- a huge array queued
    if (options.array > 0) {
      const rssBefore = process.memoryUsage().rss;
      const t0 = performance.now();
      await qsub(homeDir, ['-h', '-t', `1-${options.array}`]);
      const submitMs = performance.now() - t0;
      await sleep(2000);
      out(`queued:     ${options.array}-task array held: qsub ${submitMs.toFixed(0)} ms, master RSS ${mib(process.memoryUsage().rss)} (was ${mib(rssBefore)})`);
    }
  } finally {
    // The master first: agents leaving a running master are each a warning in its log.
    await master.stop();
    for (const s of swarms) s.close();
    fs.rmSync(homeDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:agents failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
