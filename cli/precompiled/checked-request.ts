import type { validators } from '../../protocol/api.js';
import { apiChecks } from './api-checks.js';

type Validators = typeof validators;
/** The request bodies the SGE verbs send. */
export type RequestName = 'deleteRequest' | 'holdRequest' | 'alterRequest';

/**
 * A verb's request body, checked against its protocol schema before it is sent, with TypeBox's
 * own check precompiled into api-checks.ts: TypeBox (about 230 KB bundled) is loaded only when
 * the body fails, to throw the precise error `validators[name].parse` throws. The master checks
 * the body again; this catches a CLI bug on the CLI's side, naming the field.
 */
export async function checkedRequest<K extends RequestName>(name: K, body: ReturnType<Validators[K]['parse']>): Promise<ReturnType<Validators[K]['parse']>> {
  if (apiChecks[name](body)) return body;
  const full = (await import('../../protocol/api.js')).validators[name];
  return full.parse(body) as ReturnType<Validators[K]['parse']>;
}
