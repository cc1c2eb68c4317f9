/** The page-progress heartbeat, and where a retried page resumes. */
import { activityInfo, heartbeat } from '@temporalio/activity';

/**
 * A page's progress heartbeat, sent only once the page has run for a while, or when the page fails.
 * The SDK sends an attempt's first heartbeat at once and the server persists each one: on pages of
 * a few calls that was a write per page (5 % of the dev server's CPU in the import benchmark). A
 * page that never heartbeats is still caught on a dead worker (the heartbeat timeout runs from the
 * attempt's start), and a failing page hands its progress on to the retry as before: without it,
 * every retry redid the whole page and met the next fault sooner (the fault-injection test took
 * three times as long).
 */
const HEARTBEAT_AFTER_MS = 3000;
export interface Progress {
  (details?: unknown): void;
  /** The newest progress not yet heartbeated, heartbeated now (before the attempt fails). */
  flush(): void;
}
export function progressHeartbeat(): Progress {
  const startedMs = Date.now();
  let unsent: { details?: unknown } | undefined;
  const progress = (details?: unknown) => {
    unsent = { details };
    if (Date.now() - startedMs < HEARTBEAT_AFTER_MS) return;
    heartbeat(details);
    unsent = undefined;
  };
  progress.flush = () => {
    if (unsent) heartbeat(unsent.details);
    unsent = undefined;
  };
  return progress;
}

/**
 * The items of this page an earlier attempt finished, by key. By key, not by position: a retried
 * page is read again, and the store leaves out what IM accepted meanwhile, so positions move.
 */
export function finishedInEarlierAttempt(): Set<string> {
  const details = activityInfo().heartbeatDetails as { finished?: string[] } | undefined;
  return new Set(details?.finished ?? []);
}
