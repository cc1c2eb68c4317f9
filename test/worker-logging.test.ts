/**
 * A quiet console: IM's rate-limit answers, which Temporal retries, are counted rather than printed
 * one warning per activity attempt; other failures still print, and verbose shows everything.
 */
import { activityInfo } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { asActivity, toActivityFailure } from '../activities/im-failures';
import { ImError } from '../im/errors';
import { createWorkerLogger, logLevelSetting, rateLimitedRetries } from '../workers/logging';
import { connectTestTemporal, type TestTemporal, uniqueId } from './helpers/temporal';

/** The SDK's warning for a failed activity attempt, as its activity log interceptor writes it. */
const attemptFailed = (error: unknown) => ({ activityType: 'importmsg', attempt: 1, error, durationMs: 5 });
const rateLimitedFailure = () => toActivityFailure(new ImError('importmsg', 60007, 'REST API call frequency exceeded'));

describe('worker logging', () => {
  let temporal: TestTemporal;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
  });
  afterAll(async () => temporal?.close());

  test('an attempt IM refused for rate is retried by Temporal and counted by the worker’s logger', async () => {
    // The test runtime's logger is the quiet one (test/setup-runtime.ts), at ERROR.
    const taskQueue = uniqueId('rate-log');
    const before = rateLimitedRetries();
    const worker = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowsPath: require.resolve('./fixtures/smoke-workflows'),
      activities: {
        describeAddition: (a: number, b: number) =>
          asActivity(async () => {
            if (activityInfo().attempt === 1) throw new ImError('importmsg', 60007, 'REST API call frequency exceeded');
            return `${a} + ${b} = ${a + b}`;
          }),
      },
    });
    const result = await worker.runUntil(
      temporal.client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: uniqueId('rate-log-wf'), args: [1, 2] }),
    );
    expect(result).toBe('1 + 2 = 3');
    expect(rateLimitedRetries() - before).toBe(1);
  });

  test('rate-limited attempts print nothing by default; other failures print; verbose prints both', () => {
    const quiet: string[] = [];
    const logger = createWorkerLogger('WARN', { print: (l) => quiet.push(l) });
    logger.warn('Activity failed', attemptFailed(rateLimitedFailure()));
    logger.warn('Activity failed', attemptFailed(toActivityFailure(new ImError('importmsg', 90048, 'From_Account does not exist'))));
    expect(quiet).toEqual([expect.stringMatching(/^\[WARN\] Activity failed: importmsg attempt 1 \(missing-reference: /)]);

    const verbose: string[] = [];
    const loud = createWorkerLogger('WARN', { verbose: true, print: (l) => verbose.push(l) });
    loud.warn('Activity failed', attemptFailed(rateLimitedFailure()));
    expect(verbose).toEqual([expect.stringMatching(/^\[WARN\] Activity failed: importmsg attempt 1 \(rate-limited: /)]);
  });

  test('TIM_LOG_LEVEL sets the level; DEBUG shows each rate-limited attempt; a bad value is named', () => {
    expect(logLevelSetting({}, 'WARN')).toBe('WARN');
    const lines: string[] = [];
    const logger = createWorkerLogger(logLevelSetting({ TIM_LOG_LEVEL: 'debug' }, 'WARN'), { print: (l) => lines.push(l) });
    logger.warn('Activity failed', attemptFailed(rateLimitedFailure()));
    expect(lines).toHaveLength(1);
    expect(() => logLevelSetting({ TIM_LOG_LEVEL: 'loud' }, 'WARN')).toThrow(
      /TIM_LOG_LEVEL: expected one of TRACE, DEBUG, INFO, WARN, ERROR, got "loud"/,
    );
  });
});
