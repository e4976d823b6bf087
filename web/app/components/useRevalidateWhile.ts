import { useRevalidator } from '@remix-run/react';
import { useEffect } from 'react';

/**
 * Reload the route's data every `intervalMs` while `active`, one request at a time, and not while
 * the tab is hidden. A stop-gap until the run page streams its story.
 */
export function useRevalidateWhile(active: boolean, intervalMs = 1_000) {
  const revalidator = useRevalidator();
  const idle = revalidator.state === 'idle';
  useEffect(() => {
    if (!active || !idle) return;
    const tick = () => {
      if (document.hidden) return; // resumed by the visibility listener
      revalidator.revalidate();
    };
    const onVisible = () => {
      if (!document.hidden) tick();
    };
    const timer = setTimeout(tick, intervalMs);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
    // `revalidator` changes identity on every render; its state is what matters.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active, idle, intervalMs]);
}
