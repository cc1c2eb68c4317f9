/**
 * Worker logs for people: warnings and errors on one line each, without the SDK's notes that a queue
 * has no workflows or no activities (every per-API queue has only activities, by design). A failed
 * activity attempt shows its type, attempt and error class; the retry policy decides what follows.
 */
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

const EXPECTED = /^No (workflows|activities) registered/;

function describe(entry: LogEntry): string {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  if (meta.activityType) {
    const error = meta.error as { type?: string; message?: string } | undefined;
    return `${entry.message}: ${meta.activityType} attempt ${meta.attempt} (${error?.type ?? 'error'}${error?.message ? `: ${error.message}` : ''})`;
  }
  return entry.message;
}

export function installQuietWorkerLogging(level: LogLevel = 'WARN'): void {
  try {
    Runtime.install({
      logger: new DefaultLogger(level, (entry: LogEntry) => {
        if (EXPECTED.test(entry.message)) return;
        console.error(`[${entry.level}] ${describe(entry)}`);
      }),
    });
  } catch {
    // The runtime was installed already (several stacks in one process).
  }
}
