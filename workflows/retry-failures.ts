/**
 * `retry-failed`: re-imports only the items of a migration's failure report. Each item goes
 * through its own API's queue (so IM's rate limits still hold); a failed group gets its whole
 * group import again (nothing of it reached IM). Items that go through leave the report; the
 * others keep their newest reason.
 */
import { ApplicationFailure, continueAsNew, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import type { FailureEntity } from '../activities/contracts';
import { childEndedSignal, childProgressSignal, IMPORT_PHASES, type BatchSizes, type Counts, type Cursor } from './api';
import { historyBudgetReached, imActivities, storeActivities } from './control';
import { groupImportWorkflow } from './group-import';
import { callsPerActivity, FAILURE_ENTITY_API } from './task-queues';

export interface RetryFailuresInput {
  migrationId: string;
  taskQueuePrefix: string;
  batchSizes: BatchSizes;
  after?: Cursor;
  counts?: Counts;
}

export interface RetryFailuresResult extends Counts {
  migrationId: string;
  /** What the failure report holds after the retry, by entity. */
  remaining: Record<string, number>;
}

const PAGE = 100;

export async function retryFailuresWorkflow(input: RetryFailuresInput): Promise<RetryFailuresResult> {
  const store = storeActivities(input.taskQueuePrefix);
  // The pages of a paused or cancelled migration make no call (RunStates): its retried groups would
  // wait for a resume that is not theirs to get, forever.
  const runState = await store.runState({ migrationId: input.migrationId });
  if (runState === 'paused' || runState === 'cancelled') {
    throw ApplicationFailure.nonRetryable(
      `migration ${input.migrationId} is ${runState}: ` +
        (runState === 'paused' ? 'resume it and let it finish' : 'start it again under the same id and let it finish') +
        ', then retry its failures',
      'migration-not-finished',
    );
  }
  const counts = input.counts ?? { done: 0, failed: 0 };
  // Group children report their progress and end here; the result counts groups as a whole, from executeChild.
  setHandler(childProgressSignal, () => undefined);
  setHandler(childEndedSignal, () => undefined);
  let after = input.after;
  for (;;) {
    const page = await store.listFailures({ migrationId: input.migrationId, after, limit: PAGE });
    const byEntity = new Map<FailureEntity, string[]>();
    for (const f of page.items) byEntity.set(f.entity, [...(byEntity.get(f.entity) ?? []), f.itemId]);
    for (const [entity, itemIds] of byEntity) {
      if (entity === 'group') {
        for (const groupId of itemIds) {
          const outcome = await executeChild(groupImportWorkflow, {
            workflowId: `${workflowInfo().workflowId}-group-${groupId}`,
            staticSummary: `Retry group ${groupId}`,
            args: [
              {
                migrationId: input.migrationId,
                taskQueuePrefix: input.taskQueuePrefix,
                phases: [...IMPORT_PHASES],
                accountListShape: false,
                batchSizes: input.batchSizes,
                parentWorkflowId: workflowInfo().workflowId,
                paused: false,
                groupId,
              },
            ],
          });
          if (outcome === 'completed') counts.done++;
          else counts.failed++;
        }
        continue;
      }
      // At most one page's worth of calls per activity, so the queue's rate limit still bounds the
      // API's calls per second (a 100-item activity went over IM's limit and was refused).
      const api = FAILURE_ENTITY_API[entity];
      const retry = imActivities(input.taskQueuePrefix, api);
      const perActivity = callsPerActivity(api);
      for (let i = 0; i < itemIds.length; i += perActivity) {
        const c = await retry.retryFailedItems({ migrationId: input.migrationId, entity, itemIds: itemIds.slice(i, i + perActivity) });
        counts.done += c.done;
        counts.failed += c.failed;
      }
    }
    if (page.next === undefined) break;
    after = page.next;
    if (historyBudgetReached()) return continueAsNew<typeof retryFailuresWorkflow>({ ...input, after, counts });
  }
  return { migrationId: input.migrationId, ...counts, remaining: await store.summarizeFailures({ migrationId: input.migrationId }) };
}
