/**
 * What every import activity shares: its dependencies, the failure report, how an IM answer's items
 * are settled (done, reported, or sent again), and the page wrapper that honours pause and heartbeats.
 */
import type { ApiLimitTable, ImApiName } from '../../im/apis';
import { ImClient, type ItemOutcome } from '../../im/client';
import { GROUP_UNUSABLE_CODES, ImError, isRetryableClass } from '../../im/errors';
import { DEFAULT_GROUP_HISTORY_HANDOFF, type GroupHistoryHandoff } from '../../im/messages';
import type { FailureRecord, FailureSink, LegacySource, RunStates } from '../../legacy/source';
import type { Counts, Cursor } from '../../workflows/api';
import type { GroupStop, PageOutcome } from '../contracts';
import { asActivity, isItemFailure } from '../im-failures';
import { progressHeartbeat, finishedInEarlierAttempt, type Progress } from './heartbeat';

export interface ImportDeps {
  im: ImClient;
  source: LegacySource;
  failures: FailureSink;
  runStates: RunStates;
  limits: ApiLimitTable;
  /** multiaccount_import with `AccountList` (nick and face in the same call). */
  accountListShape: boolean;
  /** Clock for "now" checks (import_group_msg needs times before now). */
  nowS?: () => number;
  /** How a group's history import keeps live posts out (im/messages.ts GROUP_HISTORY_HANDOFFS); 'mute' by default. */
  groupHistoryHandoff?: GroupHistoryHandoff;
}

export type Entity = FailureRecord['entity'];

export type ImportContext = ReturnType<typeof createImportContext>;

/** The dependencies and the helpers the import activities share, built once per factory call. */
export function createImportContext(deps: ImportDeps) {
  const { failures, runStates } = deps;
  const nowS = deps.nowS ?? (() => Math.floor(Date.now() / 1000));
  const handoff = deps.groupHistoryHandoff ?? DEFAULT_GROUP_HISTORY_HANDOFF;

  const fail = (migrationId: string, entity: Entity, itemId: string, api: ImApiName, code: number, errorClass: string, reason: string) =>
    failures.record({ migrationId, entity, itemId, api, code, errorClass, reason });

  /** One item's call: item-class IM errors go to the failure report, the rest propagate (retry / stop). */
  async function perItem(
    migrationId: string,
    entity: Entity,
    itemId: string,
    api: ImApiName,
    call: () => Promise<unknown>,
  ): Promise<Counts> {
    try {
      await call();
      return { done: 1, failed: 0 };
    } catch (err) {
      if (err instanceof ImError && isItemFailure(err.errorClass)) {
        fail(migrationId, entity, itemId, api, err.code, err.errorClass, err.info);
        return { done: 0, failed: 1 };
      }
      throw err;
    }
  }

  /**
   * Records the items IM refused for good; those it refused with a retryable or rate-limited code
   * are not recorded but returned in `retry`, for the caller to send again.
   */
  function settleOutcomes(
    migrationId: string,
    entity: Entity,
    api: ImApiName,
    outcomes: ItemOutcome[],
    itemId: (o: ItemOutcome) => string = (o) => o.id,
  ): Counts & { retry: ItemOutcome[] } {
    const counts = { done: 0, failed: 0 };
    const retry: ItemOutcome[] = [];
    for (const o of outcomes) {
      if (o.ok) counts.done++;
      else if (isRetryableClass(o.errorClass ?? 'invalid')) retry.push(o);
      else {
        counts.failed++;
        fail(migrationId, entity, itemId(o), api, o.code, o.errorClass ?? 'invalid', o.reason ?? 'rejected by IM');
      }
    }
    return { ...counts, retry };
  }

  /** settleOutcomes for calls that are safe to send again whole (imports IM takes as upserts). */
  function recordOutcomes(
    migrationId: string,
    entity: Entity,
    api: ImApiName,
    outcomes: ItemOutcome[],
    itemId?: (o: ItemOutcome) => string,
  ): Counts {
    const { retry, ...counts } = settleOutcomes(migrationId, entity, api, outcomes, itemId);
    if (retry.length > 0) throw retryLater(api, retry);
    return counts;
  }

  /**
   * A whole call IM refused for good, for the items it carried: they go to the failure report, and an
   * answer about the group itself also stops the group. Undefined when the error must leave the
   * activity: retryable and configuration errors, and a batch IM wants smaller (the workflow halves
   * it; at one item it is that item's failure).
   */
  function refusedCall(
    migrationId: string,
    entity: Entity,
    itemIds: string[],
    err: unknown,
  ): (Counts & { groupStop?: GroupStop }) | undefined {
    if (!(err instanceof ImError) || err.retryable || err.errorClass === 'auth-config') return undefined;
    if (err.errorClass === 'batch-too-large' && itemIds.length > 1) return undefined;
    for (const id of itemIds) fail(migrationId, entity, id, err.api, err.code, err.errorClass, err.info);
    const groupStop = GROUP_UNUSABLE_CODES.includes(err.code)
      ? { api: err.api, code: err.code, errorClass: err.errorClass, reason: err.info }
      : undefined;
    return { done: 0, failed: itemIds.length, groupStop };
  }
  /** Items of a group IM refused as a whole (GroupStop), in the failure report with its reason. */
  function reportStopped(migrationId: string, entity: Entity, itemIds: string[], stop: GroupStop): void {
    for (const id of itemIds) fail(migrationId, entity, id, stop.api, stop.code, stop.errorClass, stop.reason);
  }

  /**
   * A page's body, unless the run was paused or cancelled when the page left its queue: then it
   * makes no call and goes back to its workflow, which runs it again after resume. The children's
   * pause signals cannot reach the pages already waiting in a rate-limited queue; this does.
   */
  const asPage = (
    migrationId: string,
    after: Cursor | undefined,
    body: (progress: Progress) => Promise<PageOutcome>,
  ): Promise<PageOutcome> =>
    ['running', 'completed'].includes(runStates.runState(migrationId))
      ? asActivity(async () => {
          const progress = progressHeartbeat();
          try {
            return await body(progress);
          } catch (err) {
            progress.flush();
            throw err;
          }
        })
      : Promise.resolve({ done: 0, failed: 0, next: after, held: true });

  /** Runs `items` one call each, reporting progress so a retry resumes after the last finished item. */
  /** A page's items one after another; a retried page skips those an earlier attempt finished (by `keyOf`). */
  async function sequentially<T>(
    items: T[],
    progress: Progress,
    keyOf: (item: T) => string,
    run: (item: T) => Promise<Counts>,
  ): Promise<Counts> {
    const total = { done: 0, failed: 0 };
    const finished = finishedInEarlierAttempt();
    for (const item of items) {
      const key = keyOf(item);
      if (finished.has(key)) continue;
      const c = await run(item);
      total.done += c.done;
      total.failed += c.failed;
      finished.add(key);
      progress({ finished: [...finished] });
    }
    return total;
  }

  return {
    ...deps,
    nowS,
    handoff,
    fail,
    perItem,
    settleOutcomes,
    recordOutcomes,
    refusedCall,
    reportStopped,
    asPage,
    sequentially,
  };
}

/** The ids of the items IM took. */
export function acceptedIds(outcomes: ItemOutcome[]): string[] {
  return outcomes.filter((o) => o.ok).map((o) => o.id);
}

/** Items IM answered with a retryable or rate-limited code, as the error that has Temporal retry the activity. */
export function retryLater(api: ImApiName, retry: ItemOutcome[]): ImError {
  const first = retry[0];
  return new ImError(api, first.code, `${retry.length} item(s) to send again: ${first.reason ?? 'retryable answer'}`, first.errorClass);
}
