/**
 * One user's history: profile, friend list, the one-to-one conversations the user owns (each
 * conversation is owned by its lexicographically smaller user id, so it is imported once), then
 * the read marks of those conversations. Friends are written one call after another, never
 * concurrently, because IM answers concurrent writes to one friend list with 30008.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { ChildOutcome, ImportPhase, UserImportInput, UserStage } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, withBatchHalving } from './control';

type Stage = Exclude<UserStage, 'done'>;
const STAGES: readonly Stage[] = ['profile', 'friends', 'messages', 'readMarks'];
const STAGE_PHASE: Record<Stage, ImportPhase> = {
  profile: 'profiles',
  friends: 'friends',
  messages: 'messages',
  readMarks: 'readMarks',
};

/** Imports one user's profile, friends, owned conversations and read marks, in IM's order. */
export async function userImportWorkflow(input: UserImportInput): Promise<ChildOutcome> {
  const p = input.taskQueuePrefix;
  const profileApi = imActivities(p, 'portrait_set');
  const friendApi = imActivities(p, 'friend_import');
  const messageApi = imActivities(p, 'importmsg');
  const readApi = imActivities(p, 'admin_set_msg_read');
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
    step: async (stage, after) => {
      switch (stage) {
        case 'profile':
          return profileApi.importProfile({ ...base, skipNickAndFace: input.accountListShape });
        case 'friends':
          return withBatchHalving(friendBatch, (l) => (friendBatch = l), (limit) => friendApi.importFriendsPage({ ...base, after, limit }));
        case 'messages':
          return messageApi.importMessagesPage({ ...base, after, calls: callsPerActivity('importmsg') });
        case 'readMarks':
          return readApi.importReadMarksPage({ ...base, after, calls: callsPerActivity('admin_set_msg_read') });
      }
    },
  });
}
