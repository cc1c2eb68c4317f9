/**
 * One user's history: profile, friend list, the one-to-one conversations the user owns (each
 * conversation is owned by its lexicographically smaller user id, so it is imported once), then
 * the read marks of those conversations. Friends are written one call after another, never
 * concurrently, because IM answers concurrent writes to one friend list with 30008.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { Counts, Cursor, ImportPhase, UserImportInput, UserStage, ChildOutcome } from './api';
import { callsPerActivity } from './task-queues';
import { historyBudgetReached, imActivities, ProgressReporter, RunControl, withBatchHalving } from './control';

const STAGES: UserStage[] = ['profile', 'friends', 'messages', 'readMarks', 'done'];
const STAGE_PHASE: Record<Exclude<UserStage, 'done'>, ImportPhase> = {
  profile: 'profiles',
  friends: 'friends',
  messages: 'messages',
  readMarks: 'readMarks',
};

/** Imports one user's profile, friends, owned conversations and read marks, in IM's order. */
export async function userImportWorkflow(input: UserImportInput): Promise<ChildOutcome> {
  const control = new RunControl(input.paused);
  const progress = new ProgressReporter(input.parentWorkflowId);
  const p = input.taskQueuePrefix;
  const profileApi = imActivities(p, 'portrait_set');
  const friendApi = imActivities(p, 'friend_import');
  const messageApi = imActivities(p, 'importmsg');
  const readApi = imActivities(p, 'admin_set_msg_read');
  let friendBatch = input.batchSizes.friends;

  let stage: UserStage = input.carried?.stage ?? 'profile';
  let cursor: Cursor | undefined = input.carried?.cursor;
  const record = (phase: ImportPhase, counts: Counts) => progress.add(phase, counts);

  while (stage !== 'done') {
    const phase = STAGE_PHASE[stage];
    if (!input.phases.includes(phase)) {
      stage = nextStage(stage);
      cursor = undefined;
      continue;
    }
    if (!(await control.mayProceed())) {
      await progress.flush();
      return 'cancelled';
    }
    if (historyBudgetReached(input.historyEventBudget)) {
      await progress.flush();
      return continueAsNew<typeof userImportWorkflow>({
        ...input,
        paused: control.paused,
        batchSizes: { ...input.batchSizes, friends: friendBatch },
        carried: { stage, cursor },
      });
    }
    const base = { migrationId: input.migrationId, userId: input.userId };
    let next: Cursor | undefined;
    switch (stage) {
      case 'profile':
        record(phase, await profileApi.importProfile({ ...base, skipNickAndFace: input.accountListShape }));
        break;
      case 'friends': {
        const page = await withBatchHalving(friendBatch, (l) => (friendBatch = l), (limit) => friendApi.importFriendsPage({ ...base, after: cursor, limit }));
        record(phase, page);
        next = page.next;
        break;
      }
      case 'messages': {
        const page = await messageApi.importMessagesPage({ ...base, after: cursor, calls: callsPerActivity('importmsg') });
        record(phase, page);
        next = page.next;
        break;
      }
      case 'readMarks': {
        const page = await readApi.importReadMarksPage({ ...base, after: cursor, calls: callsPerActivity('admin_set_msg_read') });
        record(phase, page);
        next = page.next;
        break;
      }
    }
    if (next !== undefined) {
      cursor = next;
    } else {
      stage = nextStage(stage);
      cursor = undefined;
    }
    await progress.maybeFlush();
  }
  await progress.flush();
  return 'completed';
}

function nextStage(stage: UserStage): UserStage {
  return STAGES[STAGES.indexOf(stage) + 1] ?? 'done';
}
