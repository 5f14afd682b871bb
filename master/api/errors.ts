import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProtocolValidationError } from '../../protocol/validate.js';
import { JobNotFoundError } from '../store/transitions.js';
import { PermissionError } from '../store/ownership.js';

/** Raised by routes for a request they refuse to serve; becomes an ApiError body (the CLI receives it as its ApiRequestError). */
export class RequestRefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'RequestRefusedError';
  }
}

/** One place that turns errors into HTTP answers, so every route says the same thing the same way. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof RequestRefusedError) return reply.code(err.status).send({ error: err.message, ...(err.hint ? { hint: err.hint } : {}) });
  if (err instanceof ProtocolValidationError) {
    return reply.code(400).send({ error: err.message, hint: 'the request does not match the API schema: are the CLI and master the same qfarm version?' });
  }
  if (err instanceof JobNotFoundError) return reply.code(404).send({ error: err.message });
  if (err instanceof PermissionError) return reply.code(403).send({ error: err.message, hint: 'only the job owner, root and managers can change a job' });
  reply.log.error({ err }, 'request failed');
  return reply.code(500).send({ error: `internal error: ${(err as Error).message}`, hint: 'see the master log' });
}

/** A route handler whose every failure is answered by sendError: the handler only says what succeeds. */
export function answering<R>(handler: (req: FastifyRequest, reply: FastifyReply) => Promise<R> | R) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<R | FastifyReply> => {
    try {
      return await handler(req, reply);
    } catch (err) {
      return sendError(reply, err);
    }
  };
}
