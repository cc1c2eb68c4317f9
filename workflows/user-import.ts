/**
 * One user's history: the one-to-one conversations the user owns (each conversation is owned by
 * its lexicographically smaller user id, so it is imported once), each conversation's read marks
 * soon after its last message, and at the end the read marks of owned conversations that hold no
 * message. Beside them from the start go the user's profile and friend list: like the messages they
 * need only the accounts, and they use other APIs. Friends are written one call after another,
 * never concurrently, because IM answers concurrent writes to one friend list with 30008.
 *
 * Messages and read marks go in waves: the store plans the next pages at once, and pages run side
 * by side except that a page continuing the conversation of the page before it waits for it (a
 * chain), which keeps every conversation oldest first. A user who owns many conversations is then
 * not one long queue of pages behind its own IM latency, and the API's rate limit (its task
 * queue's) stays the bound.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { PageOutcome } from '../activities/contracts';
import type { FinishedConversation, OwnedItems, PlannedPage, ReadMarkScope } from '../legacy/source';
import type { ChildOutcome, Counts, Cursor, ImportPhase, UserImportInput, UserStage } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, storePlans, withBatchHalving, type RunControl, type StageStep } from './control';

type Stage = Exclude<UserStage, 'done'>;
const STAGES: readonly Stage[] = ['messages', 'readMarks'];
const STAGE_PHASE: Record<Stage, ImportPhase> = {
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
 * The task-queue priority of a page with `pagesLeft` pages still to go after it, one after another:
 * the rest of its chain, or the user's waiting chains spread over CHAINS_AT_ONCE, whichever is
 * longer. Longest remaining first, so a long conversation (or a user with very many) is not queued
 * behind every short one at each page and left alone at the end. Without priorities enabled on
 * the server, pages simply go first come, first served.
 */
function pagePriority(pagesLeft: number): 1 | 2 | 3 | 4 | 5 {
  return pagesLeft >= 16 ? 1 : pagesLeft >= 8 ? 2 : pagesLeft >= 4 ? 3 : pagesLeft >= 2 ? 4 : 5;
}

/** Imports one user's owned conversations and read marks, in IM's order, and beside them its profile and friends. */
export async function userImportWorkflow(input: UserImportInput): Promise<ChildOutcome> {
  const p = input.taskQueuePrefix;
  const profileApi = imActivities(p, 'portrait_set');
  const friendApi = imActivities(p, 'friend_import');
  // One proxy per task-queue priority key (1 goes first … 5), see pagePriority.
  const messageApi = [1, 2, 3, 4, 5].map((key) => imActivities(p, 'importmsg', key));
  const readApi = imActivities(p, 'admin_set_msg_read');
  const store = storePlans();
  let friendBatch = input.batchSizes.friends;
  const base = { migrationId: input.migrationId, userId: input.userId };
  const withReadMarks = input.phases.includes('readMarks') && input.phases.includes('messages');
  const readMarkCalls = callsPerActivity('admin_set_msg_read');
  const readMarksPage = (scope: ReadMarkScope | undefined, after: Cursor | undefined, calls = readMarkCalls) =>
    readApi.importReadMarksPage({ ...base, scope, after, calls });

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
    alongside: (control) =>
      Promise.all([importProfile(control), importFriends(control)]).then(([profiles, friends]) => ({ profiles, friends })),
    step: async (stage, after, control) => {
      switch (stage) {
        case 'messages': {
          const calls = callsPerActivity('importmsg');
          // Each conversation's read marks soon after the page with its last message, not after all of
          // the user's (nor after the rest of its chain): finished conversations are gathered until
          // their marks fill a read-marks page (a page is one token of its queue's rate, however
          // few it holds), and those without marks are left out. They go in the background: the
          // chains do not wait for them, the wave does.
          const readMarksSent: Array<Promise<Counts>> = [];
          let gathered: { peers: string[]; marks: number } = { peers: [], marks: 0 };
          const send = () => {
            if (gathered.peers.length === 0) return;
            const { peers } = gathered;
            readMarksSent.push(eachPage(control, (start) => readMarksPage({ peers }, start)));
            gathered = { peers: [], marks: 0 };
          };
          const step = await importWave({ items: 'messages', after, pageSize: calls }, control, {
            page: (page, pagesLeft) =>
              messageApi[pagePriority(pagesLeft) - 1].importMessagesPage({ ...base, after: page.after ?? undefined, calls: page.items }),
            afterPage: withReadMarks
              ? (finished) => {
                  for (const { peer, readMarks } of finished) {
                    if (readMarks === 0) continue;
                    if (gathered.marks + readMarks > readMarkCalls) send();
                    gathered.peers.push(peer);
                    gathered.marks += readMarks;
                  }
                  if (gathered.marks >= readMarkCalls) send();
                }
              : undefined,
          });
          if (await control.mayProceed()) send();
          const readMarks = (await Promise.all(readMarksSent)).reduce((a, c) => ({ done: a.done + c.done, failed: a.failed + c.failed }), {
            done: 0,
            failed: 0,
          });
          return { ...step, alsoDone: { readMarks } };
        }
        case 'readMarks': {
          // After the messages stage, only the conversations without messages are left.
          const scope = withReadMarks ? 'withoutMessages' : undefined;
          return importWave({ items: 'readMarks', after, pageSize: readMarkCalls, scope }, control, {
            page: (page) => readMarksPage(scope, page.after ?? undefined, page.items),
          });
        }
      }
    },
  });

  async function importProfile(control: RunControl): Promise<Counts> {
    if (!input.phases.includes('profiles') || !(await control.mayProceed())) return { done: 0, failed: 0 };
    return profileApi.importProfile({ ...base, skipNickAndFace: input.accountListShape });
  }

  /** The friend list, one page after another (never concurrently: 30008). */
  async function importFriends(control: RunControl): Promise<Counts> {
    if (!input.phases.includes('friends')) return { done: 0, failed: 0 };
    return eachPage(control, (after) =>
      withBatchHalving(
        friendBatch,
        (l) => (friendBatch = l),
        (limit) => friendApi.importFriendsPage({ ...base, after, limit }),
      ),
    );
  }

  /** Pages one after another from the first to the last (or until cancelled), their counts summed. */
  async function eachPage(control: RunControl, page: (after: Cursor | undefined) => Promise<PageOutcome>): Promise<Counts> {
    const total = { done: 0, failed: 0 };
    let after: Cursor | undefined;
    do {
      const outcome = await control.runPage(() => page(after));
      if (outcome === undefined) break;
      total.done += outcome.done;
      total.failed += outcome.failed;
      after = outcome.next;
    } while (after !== undefined);
    return total;
  }

  /** One wave: chains of pages side by side (longest first, CHAINS_AT_ONCE at a time), the pages of a chain one after another. */
  async function importWave(
    request: { items: OwnedItems; after: Cursor | undefined; pageSize: number; scope?: ReadMarkScope },
    control: RunControl,
    run: { page: (page: PlannedPage, pagesLeft: number) => Promise<PageOutcome>; afterPage?: (finished: FinishedConversation[]) => void },
  ): Promise<StageStep> {
    const plan = await store.planOwnedPages({ userId: input.userId, ...request, pages: Math.ceil(CALLS_PER_WAVE / request.pageSize) });
    const chains = [...plan.chains].sort((a, b) => b.pages.length - a.pages.length);
    let nextChain = 0;
    // Pages of chains not started yet: with CHAINS_AT_ONCE in flight, a user with many short chains
    // has a long way to go too, and its pages are as urgent as a long chain's.
    let waiting = chains.reduce((n, c) => n + c.pages.length, 0);
    const counts = { done: 0, failed: 0 };
    await Promise.all(
      Array.from({ length: Math.min(CHAINS_AT_ONCE, chains.length) }, async () => {
        while (nextChain < chains.length) {
          const chain = chains[nextChain++];
          waiting -= chain.pages.length;
          for (const [i, page] of chain.pages.entries()) {
            const c = await control.runPage(() => run.page(page, Math.max(chain.pages.length - i, Math.ceil(waiting / CHAINS_AT_ONCE))));
            if (c === undefined) return;
            counts.done += c.done;
            counts.failed += c.failed;
            if (page.finishes) run.afterPage?.(page.finishes);
          }
        }
      }),
    );
    return { ...counts, next: plan.next };
  }
}
