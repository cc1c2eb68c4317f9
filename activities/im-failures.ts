/**
 * How an IM error leaves an activity: as an ApplicationFailure whose type is the error's class,
 * so workflow retry policies decide by class (workflows/control.ts). Rate-limited answers ask for a
 * longer pause than Temporal's default first retry, so IM's window can refill.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ImError, type ImErrorClass } from '../im/errors';

/** Seconds to wait before retrying after IM said "too frequent" (its windows are per second). */
const RATE_LIMITED_RETRY_DELAY_MS = 1500;

export function toActivityFailure(err: unknown): unknown {
  if (!(err instanceof ImError)) return err;
  const details = [{ api: err.api, code: err.code, errorClass: err.errorClass }];
  if (!err.retryable) {
    return ApplicationFailure.create({ type: err.errorClass, message: err.message, nonRetryable: true, details });
  }
  return ApplicationFailure.create({
    type: err.errorClass,
    message: err.message,
    details,
    nextRetryDelay: err.errorClass === 'rate-limited' ? RATE_LIMITED_RETRY_DELAY_MS : undefined,
  });
}

/** Run an activity body, turning IM errors into failures Temporal retries (or not) by class. */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toActivityFailure(err);
  }
}

/** Classes whose item is final: record it in the failure report and move on. */
export function isItemFailure(errorClass: ImErrorClass): boolean {
  return errorClass === 'missing-reference' || errorClass === 'invalid' || errorClass === 'content-rejected';
}
