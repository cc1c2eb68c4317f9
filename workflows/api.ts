/**
 * The migration's public surface: phases, inputs, progress, and the one definition of each
 * signal and query. Workflows, activities, the CLI and the tests import these same objects, so a
 * renamed signal is a compile error, not a silent no-op.
 *
 * Everything here travels through Temporal history, so it holds cursors, ids and counts only:
 * never message bodies, secrets or UserSigs.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GroupStop } from '../activities/contracts';

/** IM's required import order (design.md); the migration runs them in this order where they depend on each other. */
export const IMPORT_PHASES = [
  'accounts',
  'profiles',
  'friends',
  'messages',
  'readMarks',
  'groups',
  'members',
  'groupMessages',
  'unreadCounts',
] as const;
export type ImportPhase = (typeof IMPORT_PHASES)[number];

export const PHASE_LABELS: Record<ImportPhase, string> = {
  accounts: 'Accounts',
  profiles: 'Profiles',
  friends: 'Friends',
  messages: 'One-to-one messages',
  readMarks: 'Read marks',
  groups: 'Groups',
  members: 'Group members',
  groupMessages: 'Group messages',
  unreadCounts: 'Member unread counts',
};

/** A keyset cursor from the staging store: opaque, small, JSON-safe. */
export type Cursor = string;

export interface Counts {
  done: number;
  failed: number;
}
export type PhaseCounts = Record<ImportPhase, Counts>;
export type PhaseTotals = Record<ImportPhase, number>;

export type MigrationState = 'running' | 'paused' | 'cancelling' | 'cancelled' | 'completed';

export interface MigrationOptions {
  /** Names this migration's failures in the store and prefixes its children's ids. */
  migrationId: string;
  /** Prefix of the task queues the workers serve (see workflows/task-queues.ts). */
  taskQueuePrefix: string;
  /** Phases to run; the rest are skipped (e.g. a profiles-only re-run). */
  phases: ImportPhase[];
  /** Per-user child workflows running at once. */
  userConcurrency: number;
  /** Per-group child workflows running at once. */
  groupConcurrency: number;
  /** Account batches (multiaccount_import calls) in flight at once. */
  accountConcurrency: number;
  /** Whether accounts carry nick and face (multiaccount_import `AccountList`), so profiles need not repeat them. */
  accountListShape: boolean;
  /** Items per call of the batch APIs, resolved from im/apis.ts and its settings by whoever starts the run. */
  batchSizes: BatchSizes;
  /** Continue-as-new once a run's history reaches this many events (default HISTORY_EVENT_BUDGET). */
  historyEventBudget?: number;
  /**
   * Send everything again, also what IM accepted in earlier runs (IM de-duplicates or overwrites it).
   * By default a run is incremental: it writes only what the store does not record as accepted.
   */
  full?: boolean;
}

export interface BatchSizes {
  accounts: number;
  friends: number;
  members: number;
  /** Messages per import_group_msg call, once IM asked for fewer (absent: the API table's). */
  groupMessages?: number;
}

/** What a migration carries into its next run when it continues-as-new. */
export interface CarriedMigrationState {
  startedAtMs: number;
  phaseStartedAtMs: Partial<Record<ImportPhase, number>>;
  totals: PhaseTotals;
  counts: PhaseCounts;
  accountsDone: boolean;
  /** Where the accounts go on after a continue-as-new in their phase. */
  accountCursor?: Cursor;
  userCursor?: Cursor;
  usersDone: boolean;
  groupCursor?: Cursor;
  groupsDone: boolean;
  paused: boolean;
  cancelled: boolean;
  /** Users and groups whose child stopped on a configuration error: restarted after resume. */
  retryUsers: string[];
  retryGroups: string[];
  /** Children still running when the run continued-as-new: they go on and report to the next run. */
  runningUsers?: string[];
  runningGroups?: string[];
  unsupportedGroups: number;
  childFailures: number;
  lastError?: string;
  runs: number;
}

export interface MigrationInput {
  options: MigrationOptions;
  carried?: CarriedMigrationState;
}

export interface PhaseProgress extends Counts {
  total: number;
  /** Items per second since the phase started. */
  ratePerSecond: number;
  /** Seconds left at the current rate; null before there is a rate. */
  etaSeconds: number | null;
}

export interface MigrationProgress {
  migrationId: string;
  state: MigrationState;
  stage: string;
  phases: Record<ImportPhase, PhaseProgress>;
  usersRunning: number;
  groupsRunning: number;
  unsupportedGroups: number;
  childFailures: number;
  lastError?: string;
  elapsedSeconds: number;
  /** Continue-as-new generations so far. */
  runs: number;
}

export interface MigrationResult {
  migrationId: string;
  state: MigrationState;
  phases: Record<ImportPhase, PhaseProgress>;
  unsupportedGroups: number;
  childFailures: number;
  /** Failures stored in the staging store's failure report, by entity. */
  failuresByEntity: Record<string, number>;
  elapsedSeconds: number;
}

/** Progress a child reports to its parent, as increments since its last report. */
export type ProgressDelta = Partial<Record<ImportPhase, Counts>>;

export interface ChildImportInput {
  migrationId: string;
  taskQueuePrefix: string;
  phases: ImportPhase[];
  accountListShape: boolean;
  batchSizes: BatchSizes;
  historyEventBudget?: number;
  /** Workflow id of the migration, for progress signals. */
  parentWorkflowId: string;
  paused: boolean;
}

export interface UserImportInput extends ChildImportInput {
  userId: string;
  carried?: { stage: UserStage; cursor?: Cursor };
}
export type UserStage = 'messages' | 'readMarks' | 'done';

export interface GroupImportInput extends ChildImportInput {
  groupId: string;
  /** `groupStop`: IM refused the group, the run only reports its remaining items. */
  carried?: { stage: GroupStage; cursor?: Cursor; groupStop?: GroupStop; endAs?: ChildOutcome };
}
export type GroupStage = 'group' | 'members' | 'messages' | 'unread' | 'done';

export type ChildOutcome = 'completed' | 'cancelled' | 'unsupported';

// Signals and queries: one definition each.
/** Stop starting new work; calls in flight finish; child workflows pause too. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Stop cleanly: nothing new starts, children stop at their next step, the result says what was done. */
export const cancelSignal = defineSignal('cancel');
export const progressQuery = defineQuery<MigrationProgress>('progress');
/** Children → parent. */
export const childProgressSignal = defineSignal<[ProgressDelta]>('childProgress');
/** A child's end, sent to its parent's workflow id (whichever run is current, even one that did not start it). */
export const childEndedSignal = defineSignal<[ChildEnd]>('childEnded');
export interface ChildEnd {
  workflowId: string;
  outcome?: ChildOutcome;
  /** Set when the child failed: its error class (failureClass) and reason. */
  failure?: { errorClass?: string; reason: string };
}

export function emptyCounts(): PhaseCounts {
  return Object.fromEntries(IMPORT_PHASES.map((p) => [p, { done: 0, failed: 0 }])) as PhaseCounts;
}
export function emptyTotals(): PhaseTotals {
  return Object.fromEntries(IMPORT_PHASES.map((p) => [p, 0])) as PhaseTotals;
}
