import type { AddressInfo, Server as NetServer } from 'node:net';
import { pino, type Logger } from 'pino';
import { logDestination } from '../logging/pretty-log.js';
import { AgentHub } from './agent-hub.js';
import { JobSpecs } from './job-specs.js';
import { TickTransaction } from './store/tick-transaction.js';
import { buildApiServer } from './api/server.js';
import { systemClock, type Clock } from './clock.js';
import { MasterEventBus } from './events.js';
import { lockHome, type HomeLock } from './home-lock.js';
import { ensureHome, privateStateWarnings, removeMasterInfo, writeMasterInfo, type FarmHome } from './home.js';
import { Authenticator } from './api/identity.js';
import { checkPeerCredentialsAvailable } from './api/peer-credentials.js';
import { closeUnixSocket, listenOnUnixSocket } from './api/unix-socket.js';
import { UserDatabase } from './api/user-database.js';
import { IdentityStore } from './store/identity-store.js';
import { LogStore } from './log-store.js';
import type { MasterOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { DEFAULT_HOST_ERROR_AFTER, HostHealth } from './host-health.js';
import { openDatabase, type Db } from './store/database.js';
import { Checkpointer } from './store/checkpointer.js';
import { JobReader } from './store/job-reader.js';
import { Transitions } from './store/transitions.js';
import { loadOrCreateToken } from './tokens.js';
import { QFARM_VERSION } from './version.js';
import { AutoscaleLoop } from './groups/autoscale-loop.js';
import { GroupService } from './groups/group-service.js';
import { defaultGroupSpec } from './groups/group-specs.js';
import { groupRows } from './store/group-store.js';
import { ProviderRegistry } from './providers/provider-registry.js';
import { WebDashboard } from './web/dashboard.js';
import { InteractiveRelay, interactiveOptionsFromEnv } from './interactive/interactive-relay.js';
import { NodeSessionRelay } from './interactive/node-session-relay.js';
import { isLoopbackHost, loadOrCreateMasterTls, type MasterTls } from './tls/master-tls.js';

/** The master daemon, composed: store, transitions, agent hub, scheduler and HTTP API. */
export class Master {
  readonly events = new MasterEventBus();
  readonly db: Db;
  readonly reader: JobReader;
  readonly transitions: Transitions;
  readonly hub: AgentHub;
  /** The hot path's one transaction per event-loop turn (agents' frames, scheduling passes). */
  readonly tick: TickTransaction;
  /** WAL checkpoints on a thread of their own once the master runs (store/checkpointer.ts). */
  checkpointer: Checkpointer | undefined;
  /** Parsed submissions, shared by the scheduler, the result intake and the autoscaler. */
  private readonly specs: JobSpecs;
  readonly scheduler: Scheduler;
  /** Hosts' error state `E` (black-hole nodes). */
  readonly health: HostHealth;
  readonly groups: GroupService;
  /** Groups' autoscaler, running once the master listens (providers need its URL). */
  autoscale: AutoscaleLoop | undefined;
  private readonly app;
  /** The web dashboard served at / (issue 10). */
  readonly web: WebDashboard;
  private readonly auth: Authenticator;
  private localApi: NetServer | undefined;
  /** qrsh/qlogin sessions (WebSocket on the API port and socket). */
  private readonly interactive: InteractiveRelay;
  /** qfarm exec/shell/push. */
  private readonly nodeSessions: NodeSessionRelay;
  private readonly agentToken: string;
  private readonly clock: Clock;
  /** Held from construction to stop: one master per QFARM_HOME. */
  private readonly homeLock: HomeLock;
  /** Set when the master serves https/wss (see options.tls). */
  readonly tls: MasterTls | undefined;
  url = '';

  constructor(
    readonly home: FarmHome,
    readonly options: MasterOptions,
    readonly log: Logger = pino({ level: options.logLevel }, logDestination()),
    clock: Clock = systemClock,
  ) {
    ensureHome(home);
    // Before anything in the home is read or written: a second master must change nothing.
    this.homeLock = lockHome(home);
    const apiToken = loadOrCreateToken(home.apiTokenFile);
    const agentToken = loadOrCreateToken(home.agentTokenFile);
    this.db = openDatabase(home.storeFile);
    this.reader = new JobReader(this.db);
    this.transitions = new Transitions(this.db, clock, this.events, { nodeFailureAttempts: options.nodeFailureAttempts, maxHostLosses: options.maxHostLosses });
    const logs = new LogStore(home.logsDir);
    this.tick = new TickTransaction(this.db, log.child({ component: 'store' }));
    this.specs = new JobSpecs(this.events, (jobId) => this.reader.spec(jobId));
    this.hub = new AgentHub(this.db, this.transitions, logs, this.events, clock, log.child({ component: 'hub' }), {
      agentToken,
      heartbeatMs: options.heartbeatMs,
      heartbeatsPerSecond: options.heartbeatsPerSecond,
      leaseGraceMs: options.leaseGraceMs,
      helloTimeoutMs: 10_000,
    }, this.tick, this.specs);
    this.health = new HostHealth(this.db, (jobId) => this.reader.ownerOf(jobId), clock, this.events, log.child({ component: 'host-health' }), { errorAfter: options.hostErrorAfter ?? DEFAULT_HOST_ERROR_AFTER });
    this.scheduler = new Scheduler(this.db, this.reader, this.transitions, this.hub, this.events, log.child({ component: 'scheduler' }), () => this.health.hostsInError(), this.tick, this.specs);
    this.agentToken = agentToken;
    this.clock = clock;
    // Every farm has the `default` group from its first start (local, autoscaling off: see groups/group-specs.ts).
    if (groupRows(this.db).length === 0) this.transitions.createGroup('default', JSON.stringify(defaultGroupSpec()));
    this.groups = new GroupService(this.db, this.transitions, () => {
      if (!this.autoscale) throw new Error('the master has not started its autoscaler yet');
      return this.autoscale;
    });
    const useTls = options.tls === 'on' || !isLoopbackHost(options.host);
    this.tls = useTls
      ? loadOrCreateMasterTls(home.root, {
          listenHost: options.host,
          ...(options.tlsCertFile ? { certFile: options.tlsCertFile } : {}),
          ...(options.tlsKeyFile ? { keyFile: options.tlsKeyFile } : {}),
          warn: (msg) => log.warn(msg),
        })
      : undefined;
    // Identity (issue 9): who asks comes from the API socket's peer or from a token, never a body.
    checkPeerCredentialsAvailable();
    const identities = new IdentityStore(this.db, clock);
    const users = new UserDatabase();
    this.auth = new Authenticator(users, identities, apiToken);
    this.web = new WebDashboard(this.db, this.hub, this.events, logs, useTls);
    this.app = buildApiServer(
      { db: this.db, reader: this.reader, transitions: this.transitions, hub: this.hub, scheduler: this.scheduler, events: this.events, logs, log, version: QFARM_VERSION, groups: this.groups, identities, users, health: this.health, tick: this.tick },
      this.auth,
      this.tls,
      this.web,
    );
    this.interactive = new InteractiveRelay(
      this.auth,
      { db: this.db, transitions: this.transitions, hub: this.hub, events: this.events, tick: this.tick, log: log.child({ component: 'interactive' }) },
      interactiveOptionsFromEnv(),
      log.child({ component: 'interactive' }),
    );
    this.hub.routeUpgrade(this.interactive.path, (req, socket, head) => this.interactive.onUpgrade(req, socket, head));
    this.nodeSessions = new NodeSessionRelay(this.auth, this.hub, this.events, log.child({ component: 'node-sessions' }));
    this.hub.routeUpgrade(this.nodeSessions.path, (req, socket, head) => this.nodeSessions.onUpgrade(req, socket, head));
  }

  async start(): Promise<string> {
    this.checkpointer = new Checkpointer(this.db, this.log.child({ component: 'store' }));
    await this.app.listen({ host: this.options.host, port: this.options.port });
    this.hub.attach(this.app.server);
    this.localApi = await listenOnUnixSocket(this.home.apiSocketFile, this.app.server, this.auth, this.log.child({ component: 'api' }));
    for (const warning of privateStateWarnings(this.home)) this.log.warn(warning);
    const address = this.app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const reachable = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
    this.url = `${this.tls ? 'https' : 'http'}://${reachable}:${address.port}`;
    this.web.publicUrl = () => process.env['QFARM_WEB_URL'] ?? this.url;
    this.web.start();
    const tlsFingerprint = this.tls?.fingerprint;
    const scalerLog = this.log.child({ component: 'autoscaler' });
    const providers = new ProviderRegistry({
      qfarmHome: this.home.root,
      masterUrl: this.url,
      agentToken: this.agentToken,
      ...(tlsFingerprint ? { tlsFingerprint } : {}),
      logger: { info: (msg, fields) => scalerLog.info(fields ?? {}, msg), warn: (msg, fields) => scalerLog.warn(fields ?? {}, msg) },
    });
    // Debounce after queue/host events (default 1 s) and the safety pass (default 30 s); tests shorten them.
    const ms = (name: string): number | undefined => (Number(process.env[name]) > 0 ? Number(process.env[name]) : undefined);
    const debounceMs = ms('QFARM_AUTOSCALE_DEBOUNCE_MS');
    const intervalMs = ms('QFARM_AUTOSCALE_INTERVAL_MS');
    this.autoscale = new AutoscaleLoop(this.db, this.reader, this.transitions, this.hub, this.events, providers, this.clock, scalerLog, {
      specs: this.specs,
      ...(debounceMs ? { debounceMs } : {}),
      ...(intervalMs ? { intervalMs } : {}),
    });
    this.autoscale.start();
    writeMasterInfo(this.home, { url: this.url, pid: process.pid, ...(tlsFingerprint ? { tlsFingerprint } : {}) });
    this.log.info({ url: this.url, home: this.home.root }, 'qfarm master listening');
    if (this.tls) {
      this.log.info(
        { tlsFingerprint, certificate: this.tls.certFile, generated: this.tls.generated },
        `TLS certificate fingerprint ${tlsFingerprint}: remote agents and CLIs pin it with --tls-fingerprint or QFARM_TLS_FINGERPRINT`,
      );
    }
    // Work stored before a restart may be runnable as soon as agents return.
    this.scheduler.request();
    return this.url;
  }

  async stop(): Promise<void> {
    this.scheduler.stop();
    this.web.stop();
    // Before the hub: stopping local agents is quicker while their master still answers.
    await this.autoscale?.stop();
    this.interactive.close();
    this.nodeSessions.close();
    await this.hub.close();
    closeUnixSocket(this.localApi, this.home.apiSocketFile);
    await this.app.close();
    // Frames received before the hub closed are committed (and acknowledged where still possible).
    this.tick.flush();
    this.tick.close();
    try {
      this.transitions.writeHostLastEnds();
    } catch (err) {
      this.log.error({ err }, `could not record when hosts last ended a task (hosts.last_ended_at): ${(err as Error).message}; after this restart the autoscaler may count some hosts idle up to 30 s longer`);
    }
    await this.checkpointer?.stop();
    this.db.close();
    removeMasterInfo(this.home);
    this.homeLock.release();
  }
}
