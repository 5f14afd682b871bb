import type { FastifyError, FastifyInstance } from 'fastify';
import { MAX_SCRIPT_CHARS } from '../../protocol/job-spec.js';
import { jsonDepthExceeds } from '../../protocol/json-depth.js';

/**
 * Bounds on what one HTTP request may make the master do. Anyone with a credential can send
 * anything; the master answers every malformed request with a 4xx naming the problem, never a
 * 500, and never parses or recurses into more than these limits.
 */
export const RequestLimits = {
  /** Every route but job submission: actions, queries, group specs. */
  bodyBytes: 256 * 1024,
  /**
   * Job submission: the longest valid script (MAX_SCRIPT_CHARS) with every character
   * JSON-escaped as `\u00XX` (6 bytes), plus 1 MiB for the rest of the submission.
   */
  submissionBodyBytes: 6 * MAX_SCRIPT_CHARS + 1024 * 1024,
  /** Nesting of arrays and objects in a JSON body; the deepest real body is under 10. */
  jsonDepth: 64,
} as const;

export class RequestBoundError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestBoundError';
  }
}

/**
 * Installs the bounds on an API instance: the JSON parser that refuses deep nesting before
 * parsing, the refusal of repeated query parameters, and 4xx errors in the API's error shape.
 * The body size limits themselves are fastify's `bodyLimit` (server-wide and per route).
 */
export function installRequestBounds(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (jsonDepthExceeds(text, RequestLimits.jsonDepth)) {
      done(new RequestBoundError(400, `request body nests arrays/objects deeper than ${RequestLimits.jsonDepth} levels`), undefined);
      return;
    }
    parseJson(req, text, done);
  });

  // `?user=a&user=b` parses to an array where every route expects one string.
  app.addHook('preValidation', async (req) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (Array.isArray(value)) throw new RequestBoundError(400, `query parameter "${name}" is given ${value.length} times: give it once`);
    }
  });

  app.setErrorHandler((err: FastifyError | RequestBoundError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const hint =
        status === 413
          ? `bodies are limited to ${RequestLimits.bodyBytes} bytes (job submissions to ${RequestLimits.submissionBodyBytes}; scripts to ${MAX_SCRIPT_CHARS} characters)`
          : undefined;
      return reply.code(status).send({ error: `${req.method} ${req.url.split('?')[0]}: ${err.message}`, ...(hint ? { hint } : {}) });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: `internal error: ${err.message}`, hint: 'see the master log' });
  });
}
