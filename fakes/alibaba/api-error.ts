import { randomUUID } from 'node:crypto';

/** An error the fake answers with, in Alibaba's JSON shape: {RequestId, HostId, Code, Message, Recommend}. */
export class FakeApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'FakeApiError';
  }
}

/** HTTP status the real services use for codes tests inject. */
export function statusForCode(code: string): number {
  if (/^Throttling/.test(code)) return 400;
  if (code === 'ServiceUnavailable') return 503;
  if (code === 'InternalError' || code === 'UnknownError') return 500;
  if (/NoStock|^QuotaExceed\.ElasticQuota|^Forbidden|^InvalidAccountStatus|^InsufficientBalance/.test(code)) return 403;
  if (/NotFound$/.test(code)) return 404;
  return 400;
}

export function errorBody(host: string, code: string, message: string): Record<string, string> {
  const requestId = randomUUID().toUpperCase();
  return {
    RequestId: requestId,
    HostId: host,
    Code: code,
    Message: message,
    Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&requestId=${requestId}`,
  };
}

/** Errors queued by a test for the next matching calls. */
export interface InjectedError {
  /** Action name (RPC) or `METHOD /path-prefix` (ROA); '*' matches any. */
  match: string;
  code: string;
  message: string;
  status?: number;
  remaining: number;
}
