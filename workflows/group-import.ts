/**
 * One group's history, in the order IM requires: the group (owner, type, creation time, profile),
 * its members with join time and role, its messages oldest first (at most 7 per call, strictly
 * increasing times, later than anything IM already holds), and only then the members' unread
 * counts, because importing messages resets every unread count to zero.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { ChildOutcome, GroupImportInput, GroupStage, ImportPhase } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, storeActivities, withBatchHalving } from './control';

type Stage = Exclude<GroupStage, 'done'>;
const STAGES: readonly Stage[] = ['group', 'members', 'messages', 'unread'];
const STAGE_PHASE: Record<Stage, ImportPhase> = {
  group: 'groups',
  members: 'members',
  messages: 'groupMessages',
  unread: 'unreadCounts',
};

/** Imports one group; an AVChatRoom (which IM cannot import) ends as 'unsupported' and is in the failure report. */
export async function groupImportWorkflow(input: GroupImportInput): Promise<ChildOutcome> {
  const p = input.taskQueuePrefix;
  const groupApi = imActivities(p, 'import_group');
  const memberApi = imActivities(p, 'import_group_member');
  const messageApi = imActivities(p, 'import_group_msg');
  const unreadApi = imActivities(p, 'set_unread_msg_num');
  let memberBatch = input.batchSizes.members;
  const base = { migrationId: input.migrationId, groupId: input.groupId };

  const outcome = await runStages<Stage>({
    stages: STAGES,
    phaseOf: STAGE_PHASE,
    phases: input.phases,
    carried: input.carried,
    parentWorkflowId: input.parentWorkflowId,
    paused: input.paused,
    historyEventBudget: input.historyEventBudget,
    continueAsNew: (carried, paused) =>
      continueAsNew<typeof groupImportWorkflow>({ ...input, paused, batchSizes: { ...input.batchSizes, members: memberBatch }, carried }),
    step: async (stage, after) => {
      switch (stage) {
        case 'group': {
          const { outcome } = await groupApi.importGroup(base);
          // Without the group nothing else of it can be imported; the failure report says why.
          if (outcome === 'unsupported') return { done: 0, failed: 1, end: 'unsupported' };
          if (outcome === 'failed') return { done: 0, failed: 1, end: 'completed' };
          return { done: 1, failed: 0 };
        }
        case 'members':
          return withBatchHalving(memberBatch, (l) => (memberBatch = l), (limit) => memberApi.importGroupMembersPage({ ...base, after, limit }));
        case 'messages':
          return messageApi.importGroupMessagesPage({ ...base, after, calls: callsPerActivity('import_group_msg') });
        case 'unread':
          return unreadApi.setUnreadCountsPage({ ...base, after, calls: callsPerActivity('set_unread_msg_num') });
      }
    },
  });
  // Whatever the outcome, the group's held live events may flow now (a cancelled run may be resumed: not then).
  if (outcome !== 'cancelled' && input.phases.includes('groupMessages')) await storeActivities(p).markGroupHistoryImported({ groupId: input.groupId });
  return outcome;
}
