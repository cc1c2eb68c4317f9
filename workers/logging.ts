/**
 * Worker logs for people: warnings and errors on one line each, without the SDK's notes that a queue
 * has no workflows or no activities (every per-API queue has only activities, by design). A failed
 * activity attempt shows its type, attempt and error class; the retry policy decides what follows.
 *
 * IM's rate-limit answers are expected (the task-queue rate sits just under IM's, and IM's windows
 * are per second): Temporal retries them after a back-off. The SDK logs each as a warning, which
 * buried everything else, so they are counted instead (rateLimitedRetries) and shown one by one
 * only when verbose (`--verbose`, or TIM_LOG_LEVEL=DEBUG).
 */
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogEntry, type Logger, type LogLevel } from '@temporalio/worker';
import type { ImErrorClass } from '../im/errors';

const EXPECTED = /^No (workflows|activities) registered/;
const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const RATE_LIMITED: ImErrorClass = 'rate-limited';

let rateLimited = 0;
/** Activity attempts in this process that IM refused for rate, each retried by Temporal. */
export function rateLimitedRetries(): number {
  return rateLimited;
}

function describe(entry: LogEntry): string {
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  if (meta.activityType) {
    const error = meta.error as { type?: string; message?: string } | undefined;
    return `${entry.message}: ${meta.activityType} attempt ${meta.attempt} (${error?.type ?? 'error'}${error?.message ? `: ${error.message}` : ''})`;
  }
  return entry.message;
}

/** The SDK's warning for an activity attempt that failed with IM's rate-limit class (activities/im-failures.ts). */
function isRateLimitedAttempt(entry: LogEntry): boolean {
  const error = entry.meta?.error;
  return entry.message === 'Activity failed' && error instanceof ApplicationFailure && error.type === RATE_LIMITED && !error.nonRetryable;
}

/** TIM_LOG_LEVEL, or `fallback` when it is not set. */
export function logLevelSetting(env: Record<string, string | undefined>, fallback: LogLevel): LogLevel {
  const value = env.TIM_LOG_LEVEL?.toUpperCase();
  if (value === undefined || value === '') return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(value))
    throw new Error(`invalid settings:\n  TIM_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${env.TIM_LOG_LEVEL}"`);
  return value as LogLevel;
}

export interface WorkerLoggingOptions {
  /** Print each rate-limited attempt too (TIM_LOG_LEVEL=DEBUG or TRACE implies it). */
  verbose?: boolean;
  print?: (line: string) => void;
}

/** The logger installQuietWorkerLogging installs; rate-limited attempts are counted whatever the level. */
export function createWorkerLogger(level: LogLevel, opts: WorkerLoggingOptions = {}): Logger {
  const print = opts.print ?? ((line: string) => console.error(line));
  const verbose = opts.verbose || LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf('DEBUG');
  const shown = (entryLevel: LogLevel) => LOG_LEVELS.indexOf(entryLevel) >= LOG_LEVELS.indexOf(level);
  // Never above WARN, so that rate-limited warnings reach the count when only errors are shown.
  const collected = LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf('WARN') ? 'WARN' : level;
  return new DefaultLogger(collected, (entry: LogEntry) => {
    if (EXPECTED.test(entry.message)) return;
    if (isRateLimitedAttempt(entry)) {
      rateLimited++;
      if (!verbose) return;
    }
    if (shown(entry.level)) print(`[${entry.level}] ${describe(entry)}`);
  });
}

/**
 * Installs the quiet logger for this process's workers: at `level`, or TIM_LOG_LEVEL, or WARN.
 * `summaryEveryMs` prints how many rate-limited attempts were retried since the last summary, for
 * a worker process that has no progress view of its own.
 */
export function installQuietWorkerLogging(level?: LogLevel, opts: WorkerLoggingOptions & { summaryEveryMs?: number } = {}): void {
  try {
    Runtime.install({ logger: createWorkerLogger(level ?? logLevelSetting(process.env, 'WARN'), opts) });
  } catch {
    // The runtime was installed already (several stacks in one process).
    return;
  }
  const everyMs = opts.summaryEveryMs;
  if (everyMs === undefined) return;
  const print = opts.print ?? ((line: string) => console.error(line));
  let reported = 0;
  setInterval(() => {
    const retried = rateLimited - reported;
    if (retried === 0) return;
    reported = rateLimited;
    print(
      `[INFO] refused for rate, retried: ${retried} activity attempt(s) in the last ${everyMs / 1000} s (${rateLimited} in all; --verbose shows each)`,
    );
  }, everyMs).unref();
}
