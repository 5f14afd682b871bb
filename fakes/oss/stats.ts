export interface RequestRecord {
  method: string;
  op: string;
  bucket: string;
  key: string;
  status: number;
  partNumber?: number;
  /** The Range header, when sent. */
  range?: string;
  /** Query parameter names, in arrival order (the request's shape, for recorded-shape checks). */
  query: string[];
  /** Header names (lower case), sorted. */
  headers: string[];
  /** Which fault rule (if any) hit this request. */
  fault?: string;
}

/** Every request the fake answered, and how many ran at once (for concurrency checks). */
export class FakeOssStats {
  requests: RequestRecord[] = [];
  inFlight = 0;
  maxInFlight = 0;

  /** Requests for an operation (and optionally a key regexp); `ok: true` counts only those answered < 300, `ok: false` only the others. */
  count(op: string, opts: { key?: RegExp; ok?: boolean } = {}): number {
    return this.requests.filter(
      (r) => r.op === op && (!opts.key || opts.key.test(r.key)) && (opts.ok === undefined || r.status < 300 === opts.ok),
    ).length;
  }

  reset(): void {
    this.requests = [];
    this.maxInFlight = this.inFlight;
  }
}
