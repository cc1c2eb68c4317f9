/**
 * A verification's public surface: its input, progress and result, and the one definition of its
 * query. Everything here travels through Temporal history: ids, cursors and counts only.
 */
import { defineQuery } from '@temporalio/workflow';
import type { Sample } from './sampling';

/** What a verification compares, in IM's import order. */
export const VERIFY_KINDS = ['accounts', 'profiles', 'friends', 'messages', 'groups', 'members', 'groupMessages', 'unreadCounts'] as const;
export type VerifyKind = (typeof VERIFY_KINDS)[number];

export const VERIFY_KIND_LABELS: Record<VerifyKind, string> = {
  accounts: 'Accounts',
  profiles: 'Profiles',
  friends: 'Friends',
  messages: 'One-to-one messages',
  groups: 'Groups',
  members: 'Group members',
  groupMessages: 'Group messages',
  unreadCounts: 'Member unread counts',
};

export interface VerifyCounts {
  /** Items the store holds that IM should have (failure-report items excluded). */
  expected: number;
  /** Of those, found in IM exactly as expected. */
  matched: number;
  /** Differences written to the ledger (missing, extra, changed, out of order). */
  differences: number;
  /** Items the failure report lists: expected to be absent, counted apart. */
  reported: number;
  /** Messages in IM that are not in the store but passed through the live sync (coexistence traffic). */
  live: number;
}
export type VerifyTally = Partial<Record<VerifyKind, VerifyCounts>>;

/** Which verification, of which migration, over which share of users and groups. */
export interface VerifyRun {
  verifyId: string;
  migrationId: string;
  sample?: Sample;
  /** The workers' prefix: it names the live sync's entities, whose traffic IM may hold beside the history. */
  taskQueuePrefix: string;
}

export interface VerifyOptions extends VerifyRun {
  /** Per-user and per-group child workflows running at once. */
  userConcurrency: number;
  groupConcurrency: number;
  /** Continue-as-new once a run's history reaches this many events. */
  historyEventBudget?: number;
}

export interface VerifyCarried {
  startedAtMs: number;
  tally: VerifyTally;
  accountCursor?: string;
  accountsDone: boolean;
  userCursor?: string;
  usersDone: boolean;
  groupCursor?: string;
  groupsDone: boolean;
  /** Users and groups taken from the store and not started yet. */
  pendingUsers: string[];
  pendingGroups: string[];
  usersChecked: number;
  groupsChecked: number;
  runs: number;
}

export interface VerifyInput {
  options: VerifyOptions;
  carried?: VerifyCarried;
}

export interface VerifyProgress {
  verifyId: string;
  migrationId: string;
  state: 'running' | 'completed';
  stage: string;
  tally: VerifyTally;
  usersChecked: number;
  groupsChecked: number;
  elapsedSeconds: number;
  sample?: Sample;
  /** Runs of the workflow so far (it continues-as-new before its history grows large). */
  runs: number;
}

export interface VerifyResult extends VerifyProgress {
  /** True when IM equals the store (items of the failure report excepted). */
  passed: boolean;
}

/** One current verification per migration, under this id. */
export const verifyWorkflowId = (migrationId: string): string => `${migrationId}-verify`;

export const verifyProgressQuery = defineQuery<VerifyProgress>('verifyProgress');

export const emptyVerifyCounts = (): VerifyCounts => ({ expected: 0, matched: 0, differences: 0, reported: 0, live: 0 });

export function addTally(into: VerifyTally, more: VerifyTally): VerifyTally {
  for (const kind of VERIFY_KINDS) {
    const c = more[kind];
    if (!c) continue;
    const t = (into[kind] ??= emptyVerifyCounts());
    t.expected += c.expected;
    t.matched += c.matched;
    t.differences += c.differences;
    t.reported += c.reported;
    t.live += c.live ?? 0;
  }
  return into;
}

export const verifyPassed = (tally: VerifyTally): boolean =>
  VERIFY_KINDS.every((k) => (tally[k]?.differences ?? 0) === 0 && (tally[k]?.matched ?? 0) === (tally[k]?.expected ?? 0));

/** The result table, one row per kind (CLI, demo, Web UI). */
export function formatVerifyTable(tally: VerifyTally): string {
  const lines = [['What', 'Expected', 'Matched', 'Differences', 'In failure report', 'Live (sync)', 'Result']];
  for (const kind of VERIFY_KINDS) {
    const c = tally[kind] ?? emptyVerifyCounts();
    const ok = c.differences === 0 && c.matched === c.expected;
    lines.push([
      VERIFY_KIND_LABELS[kind],
      String(c.expected),
      String(c.matched),
      String(c.differences),
      String(c.reported),
      String(c.live ?? 0),
      ok ? 'OK' : 'MISMATCH',
    ]);
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}
