import { validators } from '../../protocol/api.js';
import type { ApiClient } from '../api-client.js';

/**
 * Waits until a job has finished, by the master's long poll (`GET /jobs/:id/wait`, which
 * answers after at most `timeout` seconds, so no proxy cuts the wait); calls `tick` between polls.
 */
export async function waitForJob(api: ApiClient, jobId: number, tick: () => Promise<void> = async () => {}, pollSeconds = 20): Promise<void> {
  for (;;) {
    const res = await api.get(`/jobs/${jobId}/wait?timeout=${pollSeconds}`, validators.jobWaitResponse, { timeoutMs: (pollSeconds + 20) * 1000 });
    if (res.finished) return;
    await tick();
  }
}
