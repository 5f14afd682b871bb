/**
 * The master's durable state. Array jobs are stored as ranges: a task gets a row only once it
 * has been dispatched (or individually deleted), so `qsub -t 1-100000` is one row.
 * Migrations are append-only: each entry runs once, in order, inside a transaction.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    owner         TEXT    NOT NULL,
    spec          TEXT    NOT NULL,            -- JobSubmission as JSON, validated on the way in
    submit_time   INTEGER NOT NULL,
    priority      INTEGER NOT NULL,
    queue         TEXT,
    slots         INTEGER NOT NULL,
    is_array      INTEGER NOT NULL,
    first_task    INTEGER NOT NULL,
    last_task     INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    next_task     INTEGER NOT NULL,            -- lowest task id never dispatched; ids below have rows
    user_hold     INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    finished      INTEGER NOT NULL DEFAULT 0,
    finish_time   INTEGER
  );
  CREATE INDEX jobs_active ON jobs (finished, priority DESC, submit_time, id);
  CREATE INDEX jobs_name ON jobs (name);

  -- -hold_jid: job_id waits until depends_on has finished.
  CREATE TABLE job_deps (
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    depends_on  INTEGER NOT NULL,
    PRIMARY KEY (job_id, depends_on)
  ) WITHOUT ROWID;
  CREATE INDEX job_deps_reverse ON job_deps (depends_on);

  CREATE TABLE tasks (
    job_id            INTEGER NOT NULL REFERENCES jobs(id),
    task_id           INTEGER NOT NULL,
    state             TEXT    NOT NULL,         -- TaskState
    attempt_id        TEXT,                     -- the current (or committed) attempt
    attempts          INTEGER NOT NULL DEFAULT 0,
    delete_requested  INTEGER NOT NULL DEFAULT 0,
    exit_status       INTEGER,
    failed_code       INTEGER,
    PRIMARY KEY (job_id, task_id)
  ) WITHOUT ROWID;
  CREATE INDEX tasks_state ON tasks (state, job_id);

  CREATE TABLE attempts (
    id             TEXT    PRIMARY KEY,
    job_id         INTEGER NOT NULL,
    task_id        INTEGER NOT NULL,
    agent_id       TEXT    NOT NULL,
    hostname       TEXT    NOT NULL,
    group_name     TEXT    NOT NULL,
    state          TEXT    NOT NULL,            -- AttemptState
    leased_at      INTEGER NOT NULL,
    started_at     INTEGER,
    ended_at       INTEGER,
    pid            INTEGER,
    exit_status    INTEGER,
    signal         TEXT,
    failed_code    INTEGER,
    failed_reason  TEXT,
    usage          TEXT,                        -- TaskUsage JSON
    output_seq     INTEGER NOT NULL DEFAULT 0   -- next output chunk seq expected (replays dedupe)
  );
  CREATE INDEX attempts_agent ON attempts (agent_id, state);
  CREATE INDEX attempts_task ON attempts (job_id, task_id);

  CREATE TABLE hosts (
    agent_id    TEXT PRIMARY KEY,
    hostname    TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    hello       TEXT NOT NULL,                  -- last AgentHello JSON (inventory)
    disabled    INTEGER NOT NULL DEFAULT 0,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
  );
  `,
  // -hold_jid_ad: task N of job_id waits for task N of depends_on.
  `
  ALTER TABLE job_deps ADD COLUMN per_task INTEGER NOT NULL DEFAULT 0;
  `,
  // The verified output manifest an attempt committed with (OutputManifest JSON).
  `
  ALTER TABLE attempts ADD COLUMN outputs TEXT;
  `,
  // Groups of worker machines (issue 6): the compiled GroupSpec and the autoscaler's last word;
  // hosts learn whether their machine is lost, reclaimed (spot) or drained.
  `
  CREATE TABLE groups (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,                  -- GroupSpec JSON, always compileGroupSpec() output
    desired     INTEGER NOT NULL DEFAULT 0,     -- last plan.desired
    history     TEXT NOT NULL DEFAULT '{}',     -- ScalingHistory JSON (cooldowns)
    last_error  TEXT,                           -- last ProviderError message (quota, stock, image, auth)
    reasons     TEXT NOT NULL DEFAULT '[]',     -- last plan.reasons
    deleting    INTEGER NOT NULL DEFAULT 0,     -- scaling to 0, the row goes once no machine is left
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  ALTER TABLE hosts ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN interrupted_at INTEGER;
  ALTER TABLE hosts ADD COLUMN spot_termination TEXT;
  ALTER TABLE hosts ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
  `,
  // Identity (issue 9): per-user API tokens (only a hash is kept) and the farm's managers.
  `
  CREATE TABLE user_tokens (
    id          TEXT PRIMARY KEY,               -- public id shown by 'qfarm token list'
    user        TEXT NOT NULL,                  -- the one user the token acts as
    uid         INTEGER NOT NULL,
    hash        TEXT NOT NULL UNIQUE,           -- sha256 of the token, hex; the token itself is never stored
    created_at  INTEGER NOT NULL,
    last_used   INTEGER
  );
  CREATE INDEX user_tokens_user ON user_tokens (user);
  CREATE TABLE managers (
    user      TEXT PRIMARY KEY,
    added_at  INTEGER NOT NULL
  );
  `,
  // qdel -t of never-dispatched ids in the middle of an array (issue 9): one row per deleted
  // range, not per task. Bounds are ids of the job; ranges of a job are disjoint, never
  // adjacent, and lie past its cursor (the dispatch transition skips and drops them).
  `
  CREATE TABLE deleted_ranges (
    job_id  INTEGER NOT NULL REFERENCES jobs(id),
    first   INTEGER NOT NULL,
    last    INTEGER NOT NULL,
    PRIMARY KEY (job_id, first)
  ) WITHOUT ROWID;
  `,
  // qsub -r y|n as a column (issue 12), read by the host-loss path; it was read from the spec's
  // JSON text. Jobs stored before keep their flag: the spec holds it as a JSON boolean.
  `
  ALTER TABLE jobs ADD COLUMN rerun INTEGER NOT NULL DEFAULT 1;
  UPDATE jobs SET rerun = 0 WHERE json_extract(spec, '$.rerun') = 0;
  `,
  // What a rerun costs a task (issue 12, master/store/task-retries.ts): node failures and host
  // losses counted apart from its attempts, so lost leases do not use up the node-failure budget.
  // Existing tasks start both at 0.
  `
  ALTER TABLE tasks ADD COLUMN node_failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN host_losses INTEGER NOT NULL DEFAULT 0;
  `,
  // Every scheduling pass asks which hosts are disabled (qmod -d); with thousands of hosts a
  // scan of the table per pass showed in the master's profile (issue 14). Few hosts are ever
  // disabled, so a partial index holds only those.
  `
  CREATE INDEX hosts_disabled ON hosts (hostname) WHERE disabled = 1;
  `,
  // The autoscaler's look at a group (issue 14) read, per host, the end of its last attempt, and
  // per job, the mean wall time of its done attempts: scans that grew with the farm's history
  // (40-70 ms a pass at 2,000 hosts). Both are now kept as results commit: the host's last
  // result on its row, each job's done attempts and their wall time in job_stats (existing
  // attempts are summed once here). Indexes were measured instead: two more on attempts cost a
  // fifth of the master's throughput, every lease and result writing their pages.
  `
  ALTER TABLE hosts ADD COLUMN last_ended_at INTEGER;
  UPDATE hosts SET last_ended_at = (SELECT MAX(ended_at) FROM attempts a WHERE a.agent_id = hosts.agent_id);
  CREATE TABLE job_stats (
    job_id         INTEGER PRIMARY KEY REFERENCES jobs(id),
    done_attempts  INTEGER NOT NULL,
    done_wall_ms   INTEGER NOT NULL
  );
  INSERT INTO job_stats (job_id, done_attempts, done_wall_ms)
    SELECT job_id, COUNT(*), SUM(ended_at - started_at) FROM attempts
    WHERE state = 'done' AND started_at IS NOT NULL AND ended_at IS NOT NULL GROUP BY job_id;
  `,
  // Every scheduling pass asked for the earliest \`qsub -a\` start time by reading the submission
  // JSON of every unfinished job (53 ms a pass with 10,000 jobs queued): the start time is a
  // column now, indexed for the few jobs that have one.
  `
  ALTER TABLE jobs ADD COLUMN start_after INTEGER;
  UPDATE jobs SET start_after = json_extract(spec, '$.startAfter') WHERE instr(spec, '"startAfter"') > 0;
  CREATE INDEX jobs_start_after ON jobs (start_after) WHERE start_after IS NOT NULL;
  `,
  // Attempts still in an agent's hands, by agent (issue 14): the index on (agent_id, state) held
  // every attempt ever made, and each lease, start and result rewrote an entry of it on a page of
  // its own. Only live attempts are looked up by agent (a lost host's, the autoscaler's view, the
  // lease holders at start and a removed host's, which scanned the whole table): this index holds
  // just those, and covers the hostnames. An attempt leaves an agent's hands exactly when it gets
  // its end time (a result, a loss, a cancel); keyed on that rather than on its state, a start
  // (leased to running) leaves the index alone. The queries must say `ended_at IS NULL` for SQLite
  // to use it (test/master/store-statements.test.ts checks their plans).
  `
  DROP INDEX attempts_agent;
  CREATE INDEX attempts_live ON attempts (agent_id, hostname) WHERE ended_at IS NULL;
  `,
];
