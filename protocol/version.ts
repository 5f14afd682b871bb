/**
 * The wire protocol version spoken between agent and master. Bump it whenever a message
 * changes shape incompatibly; the master refuses agents of any other version with a message
 * that names both versions, so a stale worker image fails loudly instead of misbehaving.
 */
export const PROTOCOL_VERSION = 1;

/** Prefix of every HTTP API route. */
export const API_PREFIX = '/api/v1';

/** Path on the master where agents open their WebSocket. */
export const AGENT_SOCKET_PATH = '/agent';

/** WebSocket close codes the master uses, so agents can tell a refusal from a network drop. */
export const CloseCode = {
  /** The token in the upgrade request was missing or wrong: do not retry with the same token. */
  Unauthorized: 4401,
  /** The agent speaks another protocol version: upgrade the agent or the master. */
  ProtocolMismatch: 4426,
  /** A frame failed validation: the agent has a bug or is not a qfarm agent. */
  InvalidMessage: 4400,
  /**
   * This agent id is held by another live connection: refused (the first one keeps it). Retry
   * with backoff: when the holder's connection dies (closed, or 3 missed heartbeats) the id is free.
   */
  AgentIdInUse: 4409,
  /** A frame named an attempt that is not leased to this connection's agent: refused, nothing committed. */
  NotYourAttempt: 4403,
  /** The master is shutting down; reconnect with backoff. */
  Shutdown: 4503,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
