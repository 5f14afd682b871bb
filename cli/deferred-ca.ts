/**
 * bin/<verb> moves NODE_EXTRA_CA_CERTS aside before Node starts (into this variable): Node parses
 * every certificate of that file at start-up, before any of qfarm runs (with Debian's whole
 * bundle, 37 of the 61 ms `node -e 0` takes here), and a call over the master's api.sock uses no
 * TLS at all. Imported first by each verb: the user's variable is put back at once, so a job
 * submitted with `qsub -V` and every child process see the environment as it was, and an https
 * master without a pinned fingerprint is checked against it by api-client.ts.
 */
const DEFERRED_CA_VARIABLE = 'QFARM_DEFERRED_NODE_EXTRA_CA_CERTS';

const deferred = process.env[DEFERRED_CA_VARIABLE];
if (deferred !== undefined) {
  process.env['NODE_EXTRA_CA_CERTS'] = deferred;
  delete process.env[DEFERRED_CA_VARIABLE];
}

/** The extra CA file Node did not read at start-up because bin/ deferred it (undefined otherwise). */
export const deferredExtraCaFile: string | undefined = deferred === '' ? undefined : deferred;
