/**
 * What every import workflow shares: activity proxies per IM API queue with retry policies that
 * follow IM's error classes, pause/resume/cancel handling, batch halving, progress reporting to
 * the parent, and the history budget that triggers continue-as-new.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  ContinueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  rootCause,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ImportActivities, PageOutcome, StoreActivities } from '../activities/contracts';
import { NON_RETRYABLE_ERROR_CLASSES } from '../im/errors';
import type { ImApiName } from '../im/apis';
import {
  cancelSignal,
  childEndedSignal,
  childProgressSignal,
  pauseSignal,
  resumeSignal,
  type ChildEnd,
  type ChildOutcome,
  type Counts,
  type Cursor,
  type ImportPhase,
  type ProgressDelta,
} from './api';
import { apiTaskQueue, storeTaskQueue } from './task-queues';

/**
 * Continue-as-new well before Temporal's 10,240-event warning (and its 51,200 cap), whatever the
 * dataset size: each page costs about six events, so a run holds at most ~1,300 pages.
 */
export const HISTORY_EVENT_BUDGET = 8000;

export function historyBudgetReached(budget = HISTORY_EVENT_BUDGET): boolean {
  const info = workflowInfo();
  return info.historyLength >= budget || info.continueAsNewSuggested;
}

/**
 * IM activities retry through Temporal: rate-limited and retryable classes back off (1 s doubling
 * to 1 min) without a cap on attempts, since IM outages end; the other classes are final for the
 * item and land in the failure report. A page that runs long heartbeats, so a retry resumes where
 * it stopped.
 */
export function imActivities(prefix: string, api: ImApiName, priorityKey?: number): ImportActivities {
  return proxyActivities<ImportActivities>({
    taskQueue: apiTaskQueue(prefix, api),
    priority: priorityKey === undefined ? undefined : { priorityKey },
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '30 seconds',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_CLASSES],
    },
  });
}

/**
 * The store's page plans, as local activities of the workflow's own worker (every import worker
 * opens the store). A user's child plans its waves before their first page: as a task-queue
 * activity each plan cost a round trip through the server and a workflow task of its own, twice
 * per user; as a local activity the child schedules its first pages in the task that asked.
 */
export function storePlans(): Pick<StoreActivities, 'planOwnedPages'> {
  return proxyLocalActivities<Pick<StoreActivities, 'planOwnedPages'>>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

export function storeActivities(prefix: string): StoreActivities {
  return proxyActivities<StoreActivities>({
    taskQueue: storeTaskQueue(prefix),
    // Indexed reads of the staging store take milliseconds. A short limit matters when a worker
    // dies holding one: every user's child plans its pages here and would wait that long.
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

/** The error class an activity failed with (the ApplicationFailure type set by activities/). */
export function failureClass(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

/** What went wrong, in the words of the innermost failure (IM's code and wording, not "Activity task failed"). */
export function failureReason(err: unknown): string {
  return rootCause(err) ?? String(err);
}

/**
 * Run a batch call, halving the batch while IM says it is too large (Tencent keeps shrinking
 * per-call limits; the halved size is kept for the rest of the run through `onHalved`).
 */
export async function withBatchHalving<T>(
  limit: number,
  onHalved: (limit: number) => void,
  run: (limit: number) => Promise<T>,
): Promise<T> {
  for (;;) {
    try {
      return await run(limit);
    } catch (err) {
      if (failureClass(err) !== 'batch-too-large' || limit <= 1) throw err;
      limit = Math.max(1, Math.floor(limit / 2));
      onHalved(limit);
    }
  }
}

/**
 * How long a workflow whose page was held back waits for the pause or cancel to reach it by signal
 * before it asks again (a resume the store has not recorded yet also ends this way).
 */
const HELD_PAGE_WAIT = '2 seconds';

/** Pause, resume and cancel as seen by one workflow; children receive them from the parent. */
export class RunControl {
  paused: boolean;
  cancelled = false;

  constructor(initiallyPaused: boolean, onChange?: () => void) {
    this.paused = initiallyPaused;
    setHandler(pauseSignal, () => {
      this.paused = true;
      onChange?.();
    });
    setHandler(resumeSignal, () => {
      this.paused = false;
      onChange?.();
    });
    setHandler(cancelSignal, () => {
      this.cancelled = true;
      onChange?.();
    });
  }

  /** Before starting new work: wait while paused; false when the run was cancelled. */
  async mayProceed(): Promise<boolean> {
    if (this.mustWait) await condition(() => !this.mustWait);
    return !this.cancelled;
  }

  /**
   * Paused and not cancelled. Callers wait on a condition only then: the SDK records a stack trace
   * for every promise a workflow makes (about a fifth of the worker's CPU in the import benchmark
   * went there), and a condition that is already true, before every page, cost several for nothing.
   */
  private get mustWait(): boolean {
    return this.paused && !this.cancelled;
  }

  /** One page, once the run may proceed, again after resume if it came back held; undefined when cancelled. */
  async runPage<T extends PageOutcome>(page: () => Promise<T>): Promise<T | undefined> {
    for (;;) {
      if (this.mustWait) await condition(() => !this.mustWait);
      if (this.cancelled) return undefined;
      const outcome = await page();
      if (!outcome.held) return outcome;
      // Held: the pause is on its way here by signal; wait for it before asking again.
      await condition(() => this.paused || this.cancelled, HELD_PAGE_WAIT);
    }
  }
}

/**
 * Progress a child owes its parent, sent as increments at most every few seconds (and always before
 * the child ends or continues-as-new), so the parent's history grows with time, not with pages.
 */
export class ProgressReporter {
  private pending: ProgressDelta = {};
  private lastSentMs = Date.now();
  constructor(
    private readonly parentWorkflowId: string,
    private readonly intervalMs = 10_000,
  ) {}

  add(phase: ImportPhase, counts: Counts): void {
    if (counts.done === 0 && counts.failed === 0) return;
    const current = this.pending[phase] ?? { done: 0, failed: 0 };
    this.pending[phase] = { done: current.done + counts.done, failed: current.failed + counts.failed };
  }

  async maybeFlush(): Promise<void> {
    if (Date.now() - this.lastSentMs >= this.intervalMs) await this.flush();
  }

  async flush(): Promise<void> {
    this.lastSentMs = Date.now();
    if (Object.keys(this.pending).length === 0) return;
    const delta = this.pending;
    this.pending = {};
    await getExternalWorkflowHandle(this.parentWorkflowId).signal(childProgressSignal, delta);
  }
}

/** What one step of a staged child returns: its counts, where the stage goes on, or that the child ends. */
export interface StageStep extends PageOutcome {
  end?: ChildOutcome;
  /** Work of other phases done within the step (a user's read marks follow each conversation's messages). */
  alsoDone?: ProgressDelta;
}

/**
 * The loop both child workflows share: run each stage's pages in order (skipping phases not asked
 * for), wait while paused, stop when cancelled, report progress to the parent, and continue-as-new
 * at a page boundary when the history budget is reached.
 */
export async function runStages<S extends string>(opts: {
  stages: readonly S[];
  phaseOf: Record<S, ImportPhase>;
  phases: readonly ImportPhase[];
  carried?: { stage: S | 'done'; cursor?: Cursor };
  parentWorkflowId: string;
  paused: boolean;
  historyEventBudget?: number;
  /** `control` lets a step that starts several pages wait while paused and stop when cancelled. */
  step: (stage: S, cursor: Cursor | undefined, control: RunControl) => Promise<StageStep>;
  /**
   * Work that needs none of the stages and runs beside them from the start of a fresh run; the
   * workflow waits for it before it ends or continues-as-new, so a continued run never repeats it.
   */
  alongside?: (control: RunControl) => Promise<ProgressDelta>;
  continueAsNew: (carried: { stage: S; cursor?: Cursor }, paused: boolean) => Promise<never>;
}): Promise<ChildOutcome> {
  // Histories recorded before children reported their end have no such signal.
  if (!patched(CHILDREN_REPORT_THEIR_END)) return runStagesOnce(opts);
  const tellParent = (end: Omit<ChildEnd, 'workflowId'>) =>
    getExternalWorkflowHandle(opts.parentWorkflowId).signal(childEndedSignal, { workflowId: workflowInfo().workflowId, ...end });
  let outcome: ChildOutcome;
  try {
    outcome = await runStagesOnce(opts);
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) await tellParent({ failure: { errorClass: failureClass(err), reason: failureReason(err) } });
    throw err;
  }
  await tellParent({ outcome });
  return outcome;
}

/**
 * A parent that continues-as-new does not wait for its children (the runs after it may not have
 * started them), so each child tells its parent's workflow id, not a run, when it ends.
 */
const CHILDREN_REPORT_THEIR_END = 'children-report-their-end';

async function runStagesOnce<S extends string>(opts: Parameters<typeof runStages<S>>[0]): Promise<ChildOutcome> {
  const control = new RunControl(opts.paused);
  const progress = new ProgressReporter(opts.parentWorkflowId);
  const addAll = (delta: ProgressDelta = {}) => {
    for (const [phase, counts] of Object.entries(delta)) progress.add(phase as ImportPhase, counts);
  };
  const sideWork = opts.carried ? Promise.resolve() : (opts.alongside?.(control).then(addAll) ?? Promise.resolve());
  // Its failure surfaces where it is awaited, not as an unhandled rejection meanwhile.
  sideWork.catch(() => undefined);
  const finish = async () => {
    await sideWork;
    await progress.flush();
  };
  let index = opts.carried ? opts.stages.indexOf(opts.carried.stage as S) : 0;
  if (index < 0) index = opts.stages.length;
  let cursor = opts.carried?.cursor;
  while (index < opts.stages.length) {
    const stage = opts.stages[index];
    const phase = opts.phaseOf[stage];
    if (!opts.phases.includes(phase)) {
      index++;
      cursor = undefined;
      continue;
    }
    if (!(await control.mayProceed())) {
      await finish();
      return 'cancelled';
    }
    if (historyBudgetReached(opts.historyEventBudget)) {
      await finish();
      return opts.continueAsNew({ stage, cursor }, control.paused);
    }
    // A step that is one page (a group's) comes back held like any page; cancelled, the loop's check ends the run.
    const result = await control.runPage(() => opts.step(stage, cursor, control));
    if (result === undefined) continue;
    progress.add(phase, result);
    addAll(result.alsoDone);
    if (result.end) {
      await finish();
      return result.end;
    }
    if (result.next !== undefined) {
      cursor = result.next;
    } else {
      index++;
      cursor = undefined;
    }
    await progress.maybeFlush();
  }
  await finish();
  return control.cancelled ? 'cancelled' : 'completed';
}
