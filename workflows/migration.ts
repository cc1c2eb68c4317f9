/**
 * The historical import: accounts first (everything else references them), then per-user and
 * per-group child workflows side by side, since they use different IM APIs and only depend on
 * accounts. Total time then approaches the slowest API's bound rather than the sum of phases.
 *
 * Children run in sliding windows. Before the history grows large the migration continues-as-new:
 * it stops starting children, waits until every signal handler has run (so no progress report or
 * pause is lost), and carries its state into the next run, with the ids of the children still
 * running. Those outlive the run (ParentClosePolicy.ABANDON) and report their progress and their end
 * to the migration's workflow id, so whichever run is current hears them, and no run waits for its
 * slowest child (a group of hours would hold it, its history growing with the others' reports).
 */
import {
  allHandlersFinished,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ExternalWorkflowHandle,
} from '@temporalio/workflow';
import {
  cancelSignal,
  childEndedSignal,
  childProgressSignal,
  emptyCounts,
  emptyTotals,
  IMPORT_PHASES,
  pauseSignal,
  PHASE_LABELS,
  progressQuery,
  resumeSignal,
  type CarriedMigrationState,
  type ChildEnd,
  type ChildImportInput,
  type ChildOutcome,
  type Counts,
  type ImportPhase,
  type MigrationInput,
  type MigrationProgress,
  type MigrationResult,
  type MigrationState,
  type PhaseProgress,
} from './api';
import type { MigrationRunState } from '../legacy/source';
import { failureClass, failureReason, historyBudgetReached, imActivities, RunControl, storeActivities, withBatchHalving } from './control';
import { ENTITY_KIND, MIGRATION_PHASE, MIGRATION_STATE } from './search-attributes';
import { groupImportWorkflow } from './group-import';
import { userImportWorkflow } from './user-import';

const USER_PHASES: ImportPhase[] = ['profiles', 'friends', 'messages', 'readMarks'];
const GROUP_PHASES: ImportPhase[] = ['groups', 'members', 'groupMessages', 'unreadCounts'];
const ID_PAGE = 100;

type ChildKind = 'user' | 'group';
type ChildFailure = NonNullable<ChildEnd['failure']>;
const CHILD_KINDS: readonly ChildKind[] = ['user', 'group'];
/** Runs recorded before children outlived a continue-as-new waited for every child first. */
const CHILDREN_OUTLIVE_RUNS = 'children-outlive-continue-as-new';
/** Runs recorded before `full` knew no such step (none of them was full). */
const FULL_FORGETS_ACCEPTED = 'full-forgets-accepted';

/** Runs (or resumes, after continue-as-new) a whole historical import. */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const { options } = input;
  const store = storeActivities(options.taskQueuePrefix);
  const accountsApi = imActivities(options.taskQueuePrefix, 'multiaccount_import');
  const runs = (input.carried?.runs ?? 0) + 1;

  const state: CarriedMigrationState = input.carried ?? {
    startedAtMs: Date.now(),
    phaseStartedAtMs: {},
    totals: emptyTotals(),
    counts: emptyCounts(),
    accountsDone: !options.phases.includes('accounts'),
    usersDone: !USER_PHASES.some((p) => options.phases.includes(p)),
    groupsDone: !GROUP_PHASES.some((p) => options.phases.includes(p)),
    paused: false,
    cancelled: false,
    retryUsers: [],
    retryGroups: [],
    unsupportedGroups: 0,
    childFailures: 0,
    runs: 0,
  };
  state.runs = runs;
  const childrenOutliveRuns = patched(CHILDREN_OUTLIVE_RUNS);
  const childWorkflowId = (kind: ChildKind, id: string) => `${options.migrationId}-${kind}-${id}`;
  /** Running children, by user or group id: where their signals go (a child of an earlier run is reached by its id). */
  const running: Record<ChildKind, Map<string, Pick<ExternalWorkflowHandle, 'signal'>>> = {
    user: new Map((state.runningUsers ?? []).map((id) => [id, getExternalWorkflowHandle(childWorkflowId('user', id))])),
    group: new Map((state.runningGroups ?? []).map((id) => [id, getExternalWorkflowHandle(childWorkflowId('group', id))])),
  };
  let stage = state.accountsDone ? 'users and groups' : 'accounts';
  let draining = false;
  /** Set once the run has ended, so a query of the closed workflow says how it ended. */
  let endState: 'completed' | 'cancelled' | undefined;

  let recordedRunState: MigrationRunState | undefined;
  function runState(): MigrationRunState {
    if (endState === 'completed') return 'completed';
    return state.cancelled ? 'cancelled' : state.paused ? 'paused' : 'running';
  }
  const control = new RunControl(state.paused, () => {
    state.paused = control.paused;
    state.cancelled = control.cancelled;
    void forwardToChildren(control.cancelled ? 'cancel' : control.paused ? 'pause' : 'resume');
    publish();
  });
  state.cancelled = state.cancelled || control.cancelled;
  control.cancelled = state.cancelled;

  async function forwardToChildren(what: 'pause' | 'resume' | 'cancel'): Promise<void> {
    // Resumed children whose pages the store still holds would only wait and ask again.
    if (what === 'resume') {
      await condition(() => recordedRunState === runState() || runState() !== 'running');
      if (runState() !== 'running') return;
    }
    const signal = what === 'pause' ? pauseSignal : what === 'resume' ? resumeSignal : cancelSignal;
    const handles = [...running.user.values(), ...running.group.values()];
    await Promise.all(handles.map((h) => h.signal(signal).catch(() => undefined)));
  }

  function addCounts(phase: ImportPhase, counts: Counts): void {
    state.phaseStartedAtMs[phase] ??= Date.now();
    state.counts[phase].done += counts.done;
    state.counts[phase].failed += counts.failed;
  }

  setHandler(progressQuery, () => progressNow());

  function migrationState(): MigrationState {
    if (endState) return endState;
    if (state.cancelled) return 'cancelling';
    return state.paused ? 'paused' : 'running';
  }

  function progressNow(): MigrationProgress {
    const now = Date.now();
    const phases = Object.fromEntries(IMPORT_PHASES.map((phase) => [phase, phaseProgress(phase, now)])) as Record<
      ImportPhase,
      PhaseProgress
    >;
    return {
      migrationId: options.migrationId,
      state: migrationState(),
      stage,
      phases,
      usersRunning: running.user.size,
      groupsRunning: running.group.size,
      unsupportedGroups: state.unsupportedGroups,
      childFailures: state.childFailures,
      lastError: state.lastError,
      elapsedSeconds: Math.round((now - state.startedAtMs) / 1000),
      runs: state.runs,
    };
  }

  function phaseProgress(phase: ImportPhase, now: number): PhaseProgress {
    const { done, failed } = state.counts[phase];
    const total = Math.max(state.totals[phase], done + failed);
    const started = state.phaseStartedAtMs[phase];
    const seconds = started !== undefined ? (now - started) / 1000 : 0;
    const ratePerSecond = seconds > 0 ? (done + failed) / seconds : 0;
    const left = total - done - failed;
    return { total, done, failed, ratePerSecond, etaSeconds: ratePerSecond > 0 ? Math.round(left / ratePerSecond) : left === 0 ? 0 : null };
  }

  let lastSearchState = '';
  /** Web UI: a Markdown progress table as the workflow's current details, and searchable phase/state. */
  function publish(): void {
    const progress = progressNow();
    setCurrentDetails(renderProgressMarkdown(progress, options.phases));
    const searchState = `${stage}|${progress.state}`;
    if (searchState !== lastSearchState) {
      lastSearchState = searchState;
      upsertSearchAttributes([
        { key: MIGRATION_PHASE, value: stage },
        { key: MIGRATION_STATE, value: progress.state },
      ]);
    }
  }
  publish();
  // Children's signals only now: a child of an earlier run may report in this run's first task, and
  // publish() above needs everything it shows.
  setHandler(childProgressSignal, (delta) => {
    for (const phase of IMPORT_PHASES) {
      const counts = delta[phase];
      if (counts) addCounts(phase, counts);
    }
    publish();
  });
  setHandler(childEndedSignal, ({ workflowId, outcome, failure }) => {
    // A run of the earlier version hears its children's ends from their results only.
    if (!childrenOutliveRuns) return;
    for (const kind of CHILD_KINDS) {
      const prefix = childWorkflowId(kind, '');
      if (workflowId.startsWith(prefix)) childEnded(kind, workflowId.slice(prefix.length), outcome, failure);
    }
  });
  // The run's state goes to the store, where every page looks before its first call (RunStates): a
  // pause then also holds the pages already queued. One record at a time, always the newest, the
  // first before any work starts (a store may hold an earlier run's 'cancelled' under the same id).
  void (async () => {
    for (;;) {
      await condition(() => recordedRunState !== runState());
      const next = runState();
      await store.recordRunState({ migrationId: options.migrationId, state: next });
      recordedRunState = next;
    }
  })();
  await condition(() => recordedRunState === runState());
  // A full run sends everything again: what the store records as accepted is forgotten first, once
  // (a continued run goes on where it was).
  if (options.full && !input.carried && patched(FULL_FORGETS_ACCEPTED)) await store.forgetImported({ migrationId: options.migrationId });
  // The totals are only for progress, of what is left to import: they are counted while the accounts go in.
  const counting = input.carried
    ? Promise.resolve()
    : store.countTotals({ phases: options.phases }).then((totals) => {
        state.totals = totals;
        publish();
      });

  // Accounts: batches side by side, each one multiaccount_import call.
  let accountBatch = options.batchSizes.accounts;
  while (!state.accountsDone && !draining) {
    if (!(await control.mayProceed())) break;
    const plan = await store.planAccountBatches({
      after: state.accountCursor,
      batchSize: accountBatch,
      batches: options.accountConcurrency,
    });
    const batchSize = accountBatch;
    await Promise.all(
      plan.starts.map(async (after) => {
        const counts = await withBatchHalving(
          batchSize,
          (l) => (accountBatch = l),
          async (limit) => {
            // A halved batch covers the planned batch in several calls.
            if (limit === batchSize) return importAccounts(after, limit);
            return importAccountsInPieces(after, batchSize, limit);
          },
        );
        addCounts('accounts', counts);
        publish();
      }),
    );
    // Cancelled while paused for the configuration: the batches that waited never ran.
    if (state.cancelled) break;
    state.accountCursor = plan.next;
    if (plan.next === undefined) state.accountsDone = true;
    if (historyBudgetReached(options.historyEventBudget)) draining = true;
  }

  async function importAccountsInPieces(after: string | null, batchSize: number, limit: number): Promise<Counts> {
    // Pieces of the planned batch are found by planning it again at the smaller size.
    const pieces = await store.planAccountBatches({ after: after ?? undefined, batchSize: limit, batches: Math.ceil(batchSize / limit) });
    const total = { done: 0, failed: 0 };
    for (const [i, start] of pieces.starts.entries()) {
      // The last piece stops where the planned batch ends, so batches never overlap.
      const pieceLimit = Math.min(limit, batchSize - i * limit);
      const c = await importAccounts(start, pieceLimit);
      total.done += c.done;
      total.failed += c.failed;
    }
    return total;
  }

  /**
   * One multiaccount_import call. IM refusing our configuration would refuse every other call too:
   * the migration pauses with the reason, and the call runs again after `resume` (the settings
   * fixed by then); nothing when cancelled meanwhile.
   */
  async function importAccounts(after: string | null, limit: number): Promise<Counts> {
    for (;;) {
      try {
        return await accountsApi.importAccountBatch({ migrationId: options.migrationId, after, limit });
      } catch (err) {
        if (failureClass(err) !== 'auth-config') throw err;
        pauseForConfiguration(failureReason(err));
        if (!(await control.mayProceed())) return { done: 0, failed: 0 };
      }
    }
  }

  /** Pauses the whole migration (children too) and says why: a person must fix a setting, then resume. */
  function pauseForConfiguration(reason: string): void {
    state.paused = true;
    control.paused = true;
    state.lastError = `paused: IM refused our configuration (${reason}); fix the settings, then send resume`;
    void forwardToChildren('pause');
    publish();
  }

  await counting;
  if (state.accountsDone && !state.cancelled) {
    stage = 'users and groups';
    publish();
    await Promise.all([runChildren('user'), runChildren('group')]);
  }

  /** A sliding window of child workflows over the store's users or groups. */
  async function runChildren(kind: ChildKind): Promise<void> {
    const window = kind === 'user' ? options.userConcurrency : options.groupConcurrency;
    const queue = kind === 'user' ? state.retryUsers : state.retryGroups;
    const isDone = () => (kind === 'user' ? state.usersDone : state.groupsDone);
    for (;;) {
      if (draining || !(await control.mayProceed())) break;
      if (queue.length === 0) {
        if (isDone()) break;
        const cursor = kind === 'user' ? state.userCursor : state.groupCursor;
        const page =
          kind === 'user'
            ? await store.listUserIds({ after: cursor, limit: ID_PAGE })
            : await store.listGroupIds({ after: cursor, limit: ID_PAGE });
        queue.push(...page.ids);
        if (kind === 'user') {
          state.userCursor = page.next;
          state.usersDone = page.next === undefined;
        } else {
          state.groupCursor = page.next;
          state.groupsDone = page.next === undefined;
        }
        continue;
      }
      await condition(() => running[kind].size < window || draining || state.cancelled || state.paused);
      if (running[kind].size >= window) continue;
      if (draining || state.cancelled || state.paused) continue;
      // Every free slot at once: the starts go to the server in one workflow task, not one task each.
      const ids = queue.splice(0, window - running[kind].size);
      await Promise.all(ids.map((id) => startImportChild(kind, id)));
      if (historyBudgetReached(options.historyEventBudget)) draining = true;
    }
    // Draining, the children go on into the next run.
    await condition(() => running[kind].size === 0 || (draining && childrenOutliveRuns));
  }

  async function startImportChild(kind: ChildKind, id: string): Promise<void> {
    const childInput: ChildImportInput = {
      migrationId: options.migrationId,
      taskQueuePrefix: options.taskQueuePrefix,
      phases: options.phases,
      accountListShape: options.accountListShape,
      batchSizes: options.batchSizes,
      historyEventBudget: options.historyEventBudget,
      parentWorkflowId: workflowInfo().workflowId,
      paused: state.paused,
    };
    const common = {
      workflowId: childWorkflowId(kind, id),
      staticSummary: kind === 'user' ? `Import user ${id}` : `Import group ${id}`,
      typedSearchAttributes: [{ key: ENTITY_KIND, value: kind }],
      parentClosePolicy: childrenOutliveRuns ? ParentClosePolicy.ABANDON : undefined,
    };
    const handle =
      kind === 'user'
        ? await startChild(userImportWorkflow, { ...common, args: [{ ...childInput, userId: id }] })
        : await startChild(groupImportWorkflow, { ...common, args: [{ ...childInput, groupId: id }] });
    running[kind].set(id, handle);
    // A pause or cancel that arrived while the child was starting did not reach it: send it now.
    if (state.cancelled) await handle.signal(cancelSignal);
    else if (state.paused) await handle.signal(pauseSignal);
    publish();
    // The child's end comes by its signal too (the only way for a child of an earlier run): whichever is first.
    // (Three steps, as in the runs recorded before: children end in the same order of workflow steps.)
    let outcome: ChildOutcome | undefined;
    let failure: ChildFailure | undefined;
    void handle
      .result()
      .then((o: ChildOutcome) => (outcome = o))
      .catch((err: unknown) => {
        const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
        failure = { errorClass: failureClass(cause), reason: failureReason(cause) };
      })
      .finally(() => childEnded(kind, id, outcome, failure));
  }

  /**
   * A child that stopped on a configuration error (bad key, not admin, quota) would fail every
   * other child too: pause the migration, say why, and retry that child after `resume`.
   */
  function childEnded(kind: ChildKind, id: string, outcome?: ChildOutcome, failure?: ChildFailure): void {
    if (!running[kind].has(id)) return;
    if (outcome === 'unsupported') state.unsupportedGroups += 1;
    if (failure?.errorClass === 'auth-config') {
      (kind === 'user' ? state.retryUsers : state.retryGroups).push(id);
      pauseForConfiguration(failure.reason);
    } else if (failure) {
      state.childFailures += 1;
      state.lastError = `${kind} ${id}: ${failure.reason}`;
    }
    running[kind].delete(id);
    publish();
  }

  if (draining && !state.cancelled) {
    if (!childrenOutliveRuns) await condition(() => running.user.size === 0 && running.group.size === 0);
    await condition(allHandlersFinished);
    state.runningUsers = [...running.user.keys()];
    state.runningGroups = [...running.group.keys()];
    // A halved account batch stays halved, as the children keep theirs.
    return continueAsNew<typeof migrationWorkflow>({
      options: { ...options, batchSizes: { ...options.batchSizes, accounts: accountBatch } },
      carried: state,
    });
  }

  await condition(() => running.user.size === 0 && running.group.size === 0);
  endState = state.cancelled ? 'cancelled' : 'completed';
  stage = 'done';
  publish();
  const failuresByEntity = await store.summarizeFailures({ migrationId: options.migrationId });
  const progress = progressNow();
  // The store hears that the migration ended, so a `load` into it is safe again.
  await condition(() => recordedRunState === runState());
  await condition(allHandlersFinished);
  return {
    migrationId: options.migrationId,
    state: endState,
    phases: progress.phases,
    unsupportedGroups: state.unsupportedGroups,
    childFailures: state.childFailures,
    failuresByEntity,
    elapsedSeconds: progress.elapsedSeconds,
  };
}

/** The progress table shown as the workflow's current details in the Web UI. */
export function renderProgressMarkdown(progress: MigrationProgress, phases: readonly ImportPhase[]): string {
  const lines = [
    `**Migration ${progress.migrationId}**: ${progress.state}, ${progress.stage}, ${formatDuration(progress.elapsedSeconds)} elapsed` +
      (progress.usersRunning + progress.groupsRunning > 0
        ? `, ${progress.usersRunning} users and ${progress.groupsRunning} groups in progress`
        : ''),
    '',
    '| Phase | Done | Failed | Total | Rate/s | ETA |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const phase of phases) {
    const p = progress.phases[phase];
    lines.push(
      `| ${PHASE_LABELS[phase]} | ${p.done} | ${p.failed} | ${p.total} | ${p.ratePerSecond.toFixed(1)} | ${p.etaSeconds === null ? '…' : formatDuration(p.etaSeconds)} |`,
    );
  }
  if (progress.unsupportedGroups)
    lines.push('', `${progress.unsupportedGroups} group(s) of a type IM cannot import (see the failure report).`);
  if (progress.lastError) lines.push('', `Last problem: ${progress.lastError}`);
  return lines.join('\n');
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${seconds % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
