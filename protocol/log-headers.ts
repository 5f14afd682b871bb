/**
 * Headers of `GET /logs/:job/:task` (qfarm logs) for a task that ended failed: why (the failed
 * reason, URI-encoded so any text fits a header) and after how many attempts. qacct keeps SGE's
 * `failed N : text` line, so this is where a user reads the reason in words.
 */
export const LogHeaders = {
  failedReason: 'x-qfarm-failed-reason',
  attempts: 'x-qfarm-attempts',
} as const;
