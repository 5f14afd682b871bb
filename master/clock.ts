/** Time source of the master; injected so lease and timeout logic can be tested with a fixed clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
