/**
 * Worker logs for people: warnings and errors only, without the SDK's notes that a queue has no
 * workflows or no activities (every per-API queue has only activities, by design).
 */
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';

const EXPECTED = /^No (workflows|activities) registered/;

export function installQuietWorkerLogging(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry: LogEntry) => {
        if (EXPECTED.test(entry.message)) return;
        const meta = entry.meta && Object.keys(entry.meta).length ? ` ${JSON.stringify(entry.meta)}` : '';
        console.error(`[${entry.level}] ${entry.message}${meta}`);
      }),
    });
  } catch {
    // The runtime was installed already (several stacks in one process).
  }
}
