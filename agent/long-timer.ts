/** setTimeout's longest delay (about 24.8 days); longer ones fire at once with a warning. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A timer for any delay, such as an h_rt of 30 days: waits in steps no longer than setTimeout
 * supports. Returns a function that cancels it.
 */
export function longTimeout(fn: () => void, delayMs: number): () => void {
  const deadline = Date.now() + delayMs;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = deadline - Date.now();
    timer = left > MAX_DELAY_MS ? setTimeout(arm, MAX_DELAY_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
