/**
 * One group's history, in the order IM requires: the group (owner, type, creation time, profile),
 * its members with join time and role, its messages oldest first (at most 7 per call, strictly
 * increasing times, later than anything IM already holds), and only then the members' unread
 * counts, because importing messages resets every unread count to zero.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { ChildOutcome, Cursor, GroupImportInput, GroupStage, ImportPhase } from './api';
import { callsPerActivity } from './task-queues';
import { historyBudgetReached, imActivities, ProgressReporter, RunControl, withBatchHalving } from './control';

const STAGES: GroupStage[] = ['group', 'members', 'messages', 'unread', 'done'];
const STAGE_PHASE: Record<Exclude<GroupStage, 'done'>, ImportPhase> = {
  group: 'groups',
  members: 'members',
  messages: 'groupMessages',
  unread: 'unreadCounts',
};

/** Imports one group; an AVChatRoom (which IM cannot import) ends as 'unsupported' and is in the failure report. */
export async function groupImportWorkflow(input: GroupImportInput): Promise<ChildOutcome> {
  const control = new RunControl(input.paused);
  const progress = new ProgressReporter(input.parentWorkflowId);
  const p = input.taskQueuePrefix;
  const groupApi = imActivities(p, 'import_group');
  const memberApi = imActivities(p, 'import_group_member');
  const messageApi = imActivities(p, 'import_group_msg');
  const unreadApi = imActivities(p, 'set_unread_msg_num');
  let memberBatch = input.batchSizes.members;

  let stage: GroupStage = input.carried?.stage ?? 'group';
  let cursor: Cursor | undefined = input.carried?.cursor;

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
      return continueAsNew<typeof groupImportWorkflow>({
        ...input,
        paused: control.paused,
        batchSizes: { ...input.batchSizes, members: memberBatch },
        carried: { stage, cursor },
      });
    }
    const base = { migrationId: input.migrationId, groupId: input.groupId };
    let next: Cursor | undefined;
    switch (stage) {
      case 'group': {
        const { outcome } = await groupApi.importGroup(base);
        if (outcome === 'unsupported' || outcome === 'failed') {
          progress.add(phase, { done: 0, failed: 1 });
          await progress.flush();
          // Without the group nothing else of it can be imported; the failure report says why.
          return outcome === 'unsupported' ? 'unsupported' : 'completed';
        }
        progress.add(phase, { done: 1, failed: 0 });
        break;
      }
      case 'members': {
        const page = await withBatchHalving(memberBatch, (l) => (memberBatch = l), (limit) =>
          memberApi.importGroupMembersPage({ ...base, after: cursor, limit }),
        );
        progress.add(phase, page);
        next = page.next;
        break;
      }
      case 'messages': {
        const page = await messageApi.importGroupMessagesPage({ ...base, after: cursor, calls: callsPerActivity('import_group_msg') });
        progress.add(phase, page);
        next = page.next;
        break;
      }
      case 'unread': {
        const page = await unreadApi.setUnreadCountsPage({ ...base, after: cursor, calls: callsPerActivity('set_unread_msg_num') });
        progress.add(phase, page);
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

function nextStage(stage: GroupStage): GroupStage {
  return STAGES[STAGES.indexOf(stage) + 1] ?? 'done';
}
