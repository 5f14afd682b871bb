import { useRef } from 'preact/hooks';

/** Hands one source's answers to `use` (or errors to `fail`) in the order they were asked for. */
export type InOrder = <T>(answer: Promise<T>, use: (value: T) => void, fail?: (err: Error) => void) => void;

/**
 * For a page that reloads one source on every live change: an answer older than one already
 * shown is dropped, so the page never goes back in time. Answers do arrive out of order: each
 * load goes out on whichever of the browser's connections is free, and a newly opened one is
 * slower than one kept alive. Older-than-shown, not older-than-asked: on a master slower to
 * answer than the changes come, every answer is overtaken by a newer question, and the page
 * must still move on.
 */
export function useInOrder(): InOrder {
  const asked = useRef(0);
  const shown = useRef(0);
  return <T>(answer: Promise<T>, use: (value: T) => void, fail?: (err: Error) => void): void => {
    const n = ++asked.current;
    const current = (): boolean => n > shown.current && ((shown.current = n), true);
    answer.then(
      (value) => current() && use(value),
      (err: Error) => current() && fail?.(err),
    );
  };
}
