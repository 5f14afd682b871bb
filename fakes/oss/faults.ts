/**
 * Fault injection for the fake OSS: rules that match requests by operation, method and key and
 * then answer with an error status, answer slowly, reset the connection part-way through a body,
 * or corrupt a body. Rules are consumed `times` times (default 1). Clock skew is a server
 * setting (FakeOssServer.clockSkewMs), not a rule.
 *
 * Text form (flags, env QFARM_FAKE_OSS_FAULTS separated by ';'):
 *   kind=status,status=503,code=SlowDown,method=PUT,op=UploadPart,key=^out/,times=3
 *   kind=reset,op=GetObject,afterBytes=65536
 *   kind=slow,delayMs=2000
 *   kind=corrupt,op=PutObject
 *   kind=corrupt,op=CompleteMultipartUpload   (the assembled object is stored with one bit
 *     flipped and its CRC-64 is that of the stored bytes: no Content-MD5 can see it)
 */

export const FaultKind = { Status: 'status', Slow: 'slow', Reset: 'reset', Corrupt: 'corrupt' } as const;
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind];

export interface FaultRuleSpec {
  kind: FaultKind;
  /** HTTP method to match (PUT, GET…); any when absent. */
  method?: string;
  /** OSS operation name to match (PutObject, UploadPart, GetObject, ListObjectsV2…); any when absent. */
  op?: string;
  /** Regular expression the object key must match; any when absent. */
  key?: string | RegExp;
  /** Multipart part number to match (UploadPart); any when absent. */
  partNumber?: number;
  /** How many matching requests this rule affects. @default 1 */
  times?: number;
  /** kind=status: HTTP status. @default 503 */
  status?: number;
  /** kind=status: OSS error code. @default ServiceUnavailable (SlowDown for 503 when asked) */
  code?: string;
  /** kind=slow: delay before the response starts. @default 1000 */
  delayMs?: number;
  /** kind=reset: bytes of the body (request for uploads, response for downloads) before the reset. @default half */
  afterBytes?: number;
}

export interface FaultRule extends Required<Pick<FaultRuleSpec, 'kind'>> {
  readonly id: number;
  readonly spec: FaultRuleSpec;
  remaining: number;
  /** How many requests this rule has hit. */
  hits: number;
}

export interface FaultTarget {
  method: string;
  op: string;
  key: string;
  partNumber?: number;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private nextId = 1;

  add(spec: FaultRuleSpec): FaultRule {
    const rule: FaultRule = { id: this.nextId++, kind: spec.kind, spec, remaining: spec.times ?? 1, hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  remove(rule: FaultRule | number): void {
    const id = typeof rule === 'number' ? rule : rule.id;
    this.rules = this.rules.filter((r) => r.id !== id);
  }

  clear(): void {
    this.rules = [];
  }

  list(): readonly FaultRule[] {
    return this.rules;
  }

  /** The first live rule matching this request, consuming one use of it. */
  take(target: FaultTarget): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.remaining <= 0) continue;
      const s = rule.spec;
      if (s.method && s.method.toUpperCase() !== target.method) continue;
      if (s.op && s.op !== target.op) continue;
      if (s.partNumber !== undefined && s.partNumber !== target.partNumber) continue;
      if (s.key !== undefined) {
        const re = typeof s.key === 'string' ? new RegExp(s.key) : s.key;
        if (!re.test(target.key)) continue;
      }
      rule.remaining--;
      rule.hits++;
      return rule;
    }
    return undefined;
  }
}

/** Parse `k=v,k=v` into a rule spec; throws naming the bad field. */
export function parseFaultSpec(text: string): FaultRuleSpec {
  const spec: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`fault spec "${text}": expected key=value, got "${part}"`);
    spec[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const kind = spec.kind as FaultKind | undefined;
  if (!kind || !Object.values(FaultKind).includes(kind)) {
    throw new Error(`fault spec "${text}": kind must be one of ${Object.values(FaultKind).join(', ')}`);
  }
  const num = (name: string): number | undefined => {
    const v = spec[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) && v !== 'Infinity') throw new Error(`fault spec "${text}": ${name} must be a number`);
    return v === 'Infinity' ? Infinity : n;
  };
  const out: FaultRuleSpec = { kind };
  if (spec.method) out.method = spec.method;
  if (spec.op) out.op = spec.op;
  if (spec.key) out.key = spec.key;
  const partNumber = num('partNumber');
  if (partNumber !== undefined) out.partNumber = partNumber;
  const times = num('times');
  if (times !== undefined) out.times = times;
  const status = num('status');
  if (status !== undefined) out.status = status;
  if (spec.code) out.code = spec.code;
  const delayMs = num('delayMs');
  if (delayMs !== undefined) out.delayMs = delayMs;
  const afterBytes = num('afterBytes');
  if (afterBytes !== undefined) out.afterBytes = afterBytes;
  return out;
}
