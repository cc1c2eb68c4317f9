/**
 * The live sync's workflows. One entity workflow per conversation and per group applies its
 * events strictly in arrival order, drops redeliveries by event id (a bounded window here, the
 * journal behind it), holds a group's events until its history import has ended (IM refuses
 * history older than the newest message), and continues-as-new before its history grows large.
 * The control workflow holds the run state that `sync pause|resume` signal.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { pauseSignal, resumeSignal } from './api';
import { historyBudgetReached } from './control';
import {
  entitySyncQuery,
  syncEventSignal,
  syncStatusQuery,
  syncTaskQueue,
  type ApplyOutcome,
  type EntitySyncCounts,
  type EntitySyncInput,
  type EntitySyncState,
  type SettledOutcome,
  type SyncActivities,
  type SyncControlInput,
  type SyncEventRef,
} from './sync-api';

/** Event ids remembered for de-duplication; older redeliveries are caught by the journal. */
export const RECENT_EVENT_IDS = 1000;
/** An idle entity workflow ends; its next event starts a new run through signal-with-start. */
const IDLE_CLOSE_MS = 10 * 60_000;
/** Entity histories stay small: a few events per applied event. */
const SYNC_HISTORY_BUDGET = 4000;
const MAX_WAIT_MS = 10_000;
/** Events applied in one local activity: a busy group's backlog costs one workflow task per batch, not per event. */
const APPLY_BATCH = 50;

// Retryable failures (IM or the old system unreachable, rate limits) retry without a cap: events
// queue durably behind the one in flight and drain in order once the other side is back.
const sync = proxyLocalActivities<SyncActivities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

export async function entitySyncWorkflow(input: EntitySyncInput): Promise<EntitySyncCounts> {
  const counts: EntitySyncCounts = { ...(input.carried?.counts ?? { applied: 0, rejected: 0, duplicates: 0 }) };
  const recent: string[] = [...(input.carried?.recent ?? [])];
  const seen = new Set(recent);
  const queue: SyncEventRef[] = [...(input.carried?.queue ?? [])];
  for (const ref of queue) seen.add(ref.eventId);
  // Applied by an earlier apply straight from the journal; their signals are dropped, not counted as redeliveries.
  const appliedAhead = new Set<string>(input.carried?.appliedAhead ?? []);
  let historyImported = input.carried?.historyImported ?? input.entity.kind === 'conversation';
  let waitingFor: EntitySyncState['waitingFor'] = 'events';

  setHandler(syncEventSignal, (ref) => {
    if (appliedAhead.delete(ref.eventId)) return;
    if (seen.has(ref.eventId) && !ref.replay) {
      counts.duplicates++;
      return;
    }
    seen.add(ref.eventId);
    queue.push(ref);
  });
  setHandler(entitySyncQuery, () => ({ queued: queue.length, waitingFor, counts: { ...counts } }));

  const remember = (eventId: string) => {
    recent.push(eventId);
    if (recent.length > RECENT_EVENT_IDS) seen.delete(recent.shift() as string);
  };
  let backoffMs = 0;
  const waitLonger = async (reason: EntitySyncState['waitingFor']) => {
    waitingFor = reason;
    backoffMs = Math.min(MAX_WAIT_MS, Math.max(500, backoffMs * 2));
    await sleep(backoffMs);
  };

  // One timer per idle period, not one per wait for events: a timer started and cancelled around
  // every event cost two history events, two commands and a cancellation each.
  const idleCloseMs = input.idleCloseMs ?? IDLE_CLOSE_MS;
  let lastBusyMs = Date.now();
  let idle = false;
  const watchIdle = async () => {
    for (let wait = idleCloseMs; ;) {
      await sleep(wait);
      const quietMs = Date.now() - lastBusyMs;
      const waiting = queue.length === 0 && waitingFor === 'events';
      if (waiting && quietMs >= idleCloseMs) return void (idle = true);
      wait = waiting ? idleCloseMs - quietMs : idleCloseMs;
    }
  };
  void watchIdle();

  for (;;) {
    if (queue.length === 0) {
      waitingFor = 'events';
      lastBusyMs = Date.now();
      await condition(() => queue.length > 0 || idle);
      if (queue.length === 0) return counts;
      if (idle) {
        idle = false;
        void watchIdle();
      }
    }
    if (historyBudgetReached(input.historyEventBudget ?? SYNC_HISTORY_BUDGET)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof entitySyncWorkflow>({
        ...input,
        carried: { recent, queue, appliedAhead: [...appliedAhead], historyImported, counts },
      });
    }
    if (!historyImported && input.entity.kind === 'group') {
      historyImported = !(await sync.groupHistoryPending({ groupId: input.entity.groupId }));
      if (!historyImported) {
        await waitLonger('history-import');
        continue;
      }
    }
    const batch = queue.slice(0, APPLY_BATCH);
    let outcomes: ApplyOutcome[];
    let ahead: Array<{ eventId: string; outcome: SettledOutcome }> = [];
    try {
      ({ outcomes, appliedAhead: ahead } = await sync.applySyncEvents({
        entityId: workflowInfo().workflowId,
        eventIds: batch.map((r) => r.eventId),
        upTo: APPLY_BATCH,
      }));
    } catch (err) {
      // Only a non-retryable failure gets here (its content is gone from the journal): drop that
      // one event, counted as rejected, rather than fail the workflow and strand the queue behind it.
      if (!(err instanceof ActivityFailure)) throw err;
      outcomes = ['rejected'];
    }
    const count = (outcome: SettledOutcome) => void (outcome === 'duplicate' ? counts.duplicates++ : counts[outcome]++);
    for (const outcome of outcomes) {
      if (outcome === 'paused') break;
      remember((queue.shift() as SyncEventRef).eventId);
      count(outcome);
    }
    for (const { eventId, outcome } of ahead) {
      const queued = queue.findIndex((r) => r.eventId === eventId);
      if (queued >= 0) queue.splice(queued, 1);
      else {
        seen.add(eventId);
        appliedAhead.add(eventId);
        // Bounded like `recent`: a signal that never comes must not keep its id forever.
        if (appliedAhead.size > RECENT_EVENT_IDS) appliedAhead.delete(appliedAhead.values().next().value as string);
      }
      remember(eventId);
      count(outcome);
    }
    if (outcomes[outcomes.length - 1] === 'paused') {
      await waitLonger('sync-start-or-resume');
      continue;
    }
    backoffMs = 0;
    waitingFor = 'nothing';
  }
}

/** Holds the sync's run state; the activity records it in the journal, where every apply reads it. */
export async function syncControlWorkflow(input: SyncControlInput): Promise<void> {
  const control = proxyActivities<SyncActivities>({ taskQueue: syncTaskQueue(input.taskQueuePrefix), startToCloseTimeout: '30 seconds' });
  let status = input.status ?? 'running';
  let recorded: typeof status | undefined;
  setHandler(pauseSignal, () => void (status = 'paused'));
  setHandler(resumeSignal, () => void (status = 'running'));
  setHandler(syncStatusQuery, () => status);
  for (;;) {
    if (recorded !== status) {
      const next = status;
      await control.recordSyncStatus({ status: next });
      recorded = next;
      // Shown on the workflow's page in the Web UI (counts and latency: `tim-migrate sync status`).
      setCurrentDetails(
        next === 'running'
          ? `**Live sync: running** since ${new Date(Date.now()).toISOString()}. Events are applied as they arrive, one workflow per conversation and group.`
          : `**Live sync: paused** since ${new Date(Date.now()).toISOString()}. Events keep being accepted and queue in order; \`tim-migrate sync resume\` applies them.`,
      );
    }
    await condition(() => status !== recorded || workflowInfo().continueAsNewSuggested);
    if (historyBudgetReached()) return continueAsNew<typeof syncControlWorkflow>({ ...input, status });
  }
}
