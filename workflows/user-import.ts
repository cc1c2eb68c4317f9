/**
 * One user's history: profile, friend list, the one-to-one conversations the user owns (each
 * conversation is owned by its lexicographically smaller user id, so it is imported once), then
 * the read marks of those conversations. Friends are written one call after another, never
 * concurrently, because IM answers concurrent writes to one friend list with 30008.
 *
 * Messages and read marks go in waves: the store plans the next pages at once, and pages run side
 * by side except that a page continuing the conversation of the page before it waits for it (a
 * chain), which keeps every conversation oldest first. A user who owns many conversations is then
 * not one long queue of pages behind its own IM latency, and the API's rate limit (its task
 * queue's) stays the bound.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { OwnedItems } from '../legacy/source';
import type { ChildOutcome, Counts, Cursor, ImportPhase, UserImportInput, UserStage } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, storeActivities, withBatchHalving, type StageStep } from './control';

type Stage = Exclude<UserStage, 'done'>;
const STAGES: readonly Stage[] = ['profile', 'friends', 'messages', 'readMarks'];
const STAGE_PHASE: Record<Stage, ImportPhase> = {
  profile: 'profiles',
  friends: 'friends',
  messages: 'messages',
  readMarks: 'readMarks',
};
/**
 * Calls planned per wave: large, because a wave lasts as long as its longest chain; its history
 * (about five events a page) stays well inside the budget.
 */
const CALLS_PER_WAVE = 1000;
/**
 * Chains of one user in flight, longest first. Every chain at once floods the server with a backlog
 * of first pages (a slow start); a few at a time leaves a heavy user alone at the end (a slow tail).
 * 32 measured best of 8, 32 and all on the benchmark (docs/benchmarks.md).
 */
const CHAINS_AT_ONCE = 32;

/**
 * The task-queue priority of a page with `pagesLeft` pages of its chain still to go, this one
 * included: longest remaining first, so a long conversation (whose pages can only go one after
 * another) is not queued behind every short one at each page and left alone at the end.
 * Without priorities enabled on the server, pages simply go first come, first served.
 */
export function pagePriority(pagesLeft: number): 1 | 2 | 3 | 4 {
  return pagesLeft >= 8 ? 1 : pagesLeft >= 4 ? 2 : pagesLeft >= 2 ? 3 : 4;
}

/** Imports one user's profile, friends, owned conversations and read marks, in IM's order. */
export async function userImportWorkflow(input: UserImportInput): Promise<ChildOutcome> {
  const p = input.taskQueuePrefix;
  const profileApi = imActivities(p, 'portrait_set');
  const friendApi = imActivities(p, 'friend_import');
  // One proxy per task-queue priority key (1 goes first … 4), see pagePriority.
  const messageApi = [1, 2, 3, 4].map((key) => imActivities(p, 'importmsg', key));
  const readApi = imActivities(p, 'admin_set_msg_read');
  const store = storeActivities(p);
  let friendBatch = input.batchSizes.friends;
  const base = { migrationId: input.migrationId, userId: input.userId };

  return runStages<Stage>({
    stages: STAGES,
    phaseOf: STAGE_PHASE,
    phases: input.phases,
    carried: input.carried,
    parentWorkflowId: input.parentWorkflowId,
    paused: input.paused,
    historyEventBudget: input.historyEventBudget,
    continueAsNew: (carried, paused) =>
      continueAsNew<typeof userImportWorkflow>({ ...input, paused, batchSizes: { ...input.batchSizes, friends: friendBatch }, carried }),
    step: async (stage, after, mayProceed) => {
      switch (stage) {
        case 'profile':
          return profileApi.importProfile({ ...base, skipNickAndFace: input.accountListShape });
        case 'friends':
          return withBatchHalving(friendBatch, (l) => (friendBatch = l), (limit) => friendApi.importFriendsPage({ ...base, after, limit }));
        case 'messages': {
          const calls = callsPerActivity('importmsg');
          return importWave('messages', after, calls, mayProceed, (start, pagesLeft) =>
            messageApi[pagePriority(pagesLeft) - 1].importMessagesPage({ ...base, after: start, calls }),
          );
        }
        case 'readMarks': {
          const calls = callsPerActivity('admin_set_msg_read');
          return importWave('readMarks', after, calls, mayProceed, (start) => readApi.importReadMarksPage({ ...base, after: start, calls }));
        }
      }
    },
  });

  /** One wave: chains of pages side by side, the pages of a chain one after another. */
  async function importWave(
    items: OwnedItems,
    after: Cursor | undefined,
    pageSize: number,
    mayProceed: () => Promise<boolean>,
    importPage: (start: Cursor | undefined, pagesLeft: number) => Promise<Counts>,
  ): Promise<StageStep> {
    const plan = await store.planOwnedPages({ userId: input.userId, items, after, pageSize, pages: Math.ceil(CALLS_PER_WAVE / pageSize) });
    const chains: Array<Array<Cursor | null>> = [];
    for (const page of plan.pages) {
      if (page.afterPrevious && chains.length > 0) chains[chains.length - 1].push(page.after);
      else chains.push([page.after]);
    }
    chains.sort((a, b) => b.length - a.length);
    let nextChain = 0;
    const counts = { done: 0, failed: 0 };
    await Promise.all(
      Array.from({ length: Math.min(CHAINS_AT_ONCE, chains.length) }, async () => {
        while (nextChain < chains.length) {
          const chain = chains[nextChain++];
          for (const [i, start] of chain.entries()) {
            if (!(await mayProceed())) return;
            const c = await importPage(start ?? undefined, chain.length - i);
            counts.done += c.done;
            counts.failed += c.failed;
          }
        }
      }),
    );
    return { ...counts, next: plan.next };
  }
}
