import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

/** A validation failure, with the path and reason of the first few problems. */
export class ProtocolValidationError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}: ${problems.join('; ')}`);
    this.name = 'ProtocolValidationError';
  }
}

/** A compiled runtime check for one schema: `parse` throws a precise error, `check` narrows. */
export interface Validator<T extends TSchema> {
  readonly schema: T;
  check(value: unknown): value is Static<T>;
  parse(value: unknown): Static<T>;
  problems(value: unknown): string[];
}

/**
 * Compiles a schema once (TypeBox's compiler emits a specialised function; a check costs well
 * under a microsecond), so every frame and API body can be validated on the hot path.
 */
export function compile<T extends TSchema>(what: string, schema: T): Validator<T> {
  let compiled: TypeCheck<T> | undefined;
  const get = (): TypeCheck<T> => (compiled ??= TypeCompiler.Compile(schema));
  const problems = (value: unknown): string[] => {
    const out: string[] = [];
    for (const error of get().Errors(value)) {
      out.push(`${error.path || '/'} ${error.message}`);
      if (out.length >= 5) break;
    }
    return out;
  };
  return {
    schema,
    check: (value: unknown): value is Static<T> => get().Check(value),
    parse(value: unknown): Static<T> {
      if (get().Check(value)) return value;
      throw new ProtocolValidationError(what, problems(value));
    },
    problems,
  };
}

/** Parses a JSON text and validates it in one step. */
export function parseJson<T extends TSchema>(validator: Validator<T>, text: string): Static<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolValidationError('JSON', [(err as Error).message]);
  }
  return validator.parse(value);
}
