/**
 * One group's history, in the order IM requires: the group (owner, type, creation time, profile),
 * its members with join time and role, its messages oldest first (at most 7 per call, strictly
 * increasing times, later than anything IM already holds), and only then the members' unread
 * counts, because importing messages resets every unread count to zero.
 *
 * When IM refuses the group itself (it was dissolved, it takes no imports, its id is someone else's), the rest of the stages only put their items in the failure report, with IM's reason:
 * the child ends normally, every item is accounted for, and the group's live sync is released.
 *
 * Members who can already post (App 2.0) would overtake the history: IM takes no message older than
 * the group's newest. So from before its members go in until its history and unread counts are in,
 * the group is muted (the 'mute' handoff, im/messages.ts GROUP_HISTORY_HANDOFFS), then gets its own
 * setting back; history a post still overtook is in the failure report with that reason. A cancelled
 * run stays muted, like its held live events, until it is started again and ends.
 */
import { continueAsNew, patched } from '@temporalio/workflow';
import type { GroupStop } from '../activities/contracts';
import { IM_APIS } from '../im/apis';
import type { ChildOutcome, GroupImportInput, GroupStage, ImportPhase } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, storeActivities, withBatchHalving, type StageStep } from './control';

type Stage = Exclude<GroupStage, 'done'>;
const STAGES: readonly Stage[] = ['group', 'members', 'messages', 'unread'];
const STAGE_PHASE: Record<Stage, ImportPhase> = {
  group: 'groups',
  members: 'members',
  messages: 'groupMessages',
  unread: 'unreadCounts',
};
/** Items a stopped group reports per store activity. */
const STOPPED_REPORT_PAGE = 500;
/** Runs recorded before a refused group's items were reported ended right after import_group. */
const REPORT_REFUSED_GROUP_ITEMS = 'report-refused-group-items';
/** Runs recorded before the mute handoff imported members and history without holding the group. */
const HOLD_GROUP_DURING_HISTORY = 'hold-group-during-history';
/** Runs recorded before an unsupported group's items were reported ended 'unsupported' right after import_group. */
const REPORT_UNSUPPORTED_GROUP_ITEMS = 'report-unsupported-group-items';

/** Imports one group; an AVChatRoom (which IM cannot import) ends as 'unsupported' and is in the failure report. */
export async function groupImportWorkflow(input: GroupImportInput): Promise<ChildOutcome> {
  const p = input.taskQueuePrefix;
  const groupApi = imActivities(p, 'import_group');
  const memberApi = imActivities(p, 'import_group_member');
  const messageApi = imActivities(p, 'import_group_msg');
  const unreadApi = imActivities(p, 'set_unread_msg_num');
  const store = storeActivities(p);
  let memberBatch = input.batchSizes.members;
  let messageBatch = input.batchSizes.groupMessages ?? IM_APIS.import_group_msg.maxItems;
  let groupStop: GroupStop | undefined = input.carried?.groupStop;
  // A group of a type IM cannot import reports its items, then ends 'unsupported' (counted apart, as a whole group).
  let endAs: ChildOutcome | undefined = input.carried?.endAs;
  const lastStage = [...STAGES].reverse().find((s) => input.phases.includes(STAGE_PHASE[s]));
  const importsHistory = input.phases.includes('groupMessages');
  let holdAsked = false;
  // Whatever the outcome, the group's held live events may flow at its end (a cancelled run may be resumed: not then).
  let handedOver = false;
  const base = { migrationId: input.migrationId, groupId: input.groupId };
  /** A step's outcome; one that says IM refused the group stops it. */
  const noting = <T extends { groupStop?: GroupStop }>(outcome: T): T => {
    groupStop ??= outcome.groupStop;
    return outcome;
  };

  const outcome = await runStages<Stage>({
    stages: STAGES,
    phaseOf: STAGE_PHASE,
    phases: input.phases,
    carried: input.carried,
    parentWorkflowId: input.parentWorkflowId,
    paused: input.paused,
    historyEventBudget: input.historyEventBudget,
    continueAsNew: (carried, paused) =>
      continueAsNew<typeof groupImportWorkflow>({
        ...input,
        paused,
        batchSizes: { ...input.batchSizes, members: memberBatch, groupMessages: messageBatch },
        carried: { ...carried, groupStop, endAs },
      }),
    step: async (stage, after) => {
      const result = await stepOf(stage, after);
      // Before the child tells its parent it ended: the migration may complete at that signal.
      const ends = result.end !== undefined || (stage === lastStage && result.next === undefined && !result.held);
      if (ends && importsHistory && patched(HOLD_GROUP_DURING_HISTORY)) await handOver();
      return result;
    },
  });
  // Runs recorded before the handoff moved into the last step mark the group here.
  if (outcome !== 'cancelled' && importsHistory && !handedOver) await store.markGroupHistoryImported({ groupId: input.groupId });
  return outcome;

  /** The group's own mute setting, then its held live events may flow (they may change it). */
  async function handOver(): Promise<void> {
    if (handedOver) return;
    handedOver = true;
    await groupApi.releaseGroupHistory(base);
    await store.markGroupHistoryImported({ groupId: input.groupId });
  }

  async function stepOf(stage: Stage, after: string | undefined): Promise<StageStep> {
    if (groupStop) {
      // Without the group nothing else of it can be imported: the failure report says why, item by item.
      if (stage === 'group') return { done: 0, failed: 0, end: stage === lastStage ? endAs : undefined };
      const reported = await store.reportStoppedGroupItems({ ...base, stage, after, limit: STOPPED_REPORT_PAGE, stop: groupStop });
      return { ...reported, end: reported.next === undefined && stage === lastStage ? endAs : undefined };
    }
    if (
      (stage === 'members' || stage === 'messages') &&
      after === undefined &&
      importsHistory &&
      !holdAsked &&
      patched(HOLD_GROUP_DURING_HISTORY)
    ) {
      // Idempotent: a run continued-as-new within the members asks again before the history.
      holdAsked = true;
      await groupApi.holdGroupHistory(base);
    }
    switch (stage) {
      case 'group': {
        const imported = await groupApi.importGroup(base);
        if (imported.outcome === 'created' || imported.outcome === 'existed') return { done: 1, failed: 0 };
        // A type IM cannot import is counted apart (unsupportedGroups), as a whole group.
        if (imported.outcome === 'unsupported') {
          if (!patched(REPORT_UNSUPPORTED_GROUP_ITEMS)) return { done: 0, failed: 1, end: 'unsupported' };
          groupStop = imported.groupStop;
          endAs = 'unsupported';
          return { done: 0, failed: 1, end: stage === lastStage || !groupStop ? endAs : undefined };
        }
        if (!patched(REPORT_REFUSED_GROUP_ITEMS)) return { done: 0, failed: 1, end: 'completed' };
        // The activity put the group in the failure report with its reason, which its items take over.
        groupStop = imported.groupStop ?? { api: 'import_group', code: -1, errorClass: 'invalid', reason: 'IM refused the group' };
        return { done: 0, failed: 1 };
      }
      case 'members':
        return noting(
          await withBatchHalving(
            memberBatch,
            (l) => (memberBatch = l),
            (limit) => memberApi.importGroupMembersPage({ ...base, after, limit }),
          ),
        );
      case 'messages': {
        const calls = callsPerActivity('import_group_msg');
        const page = (perCall: number) => messageApi.importGroupMessagesPage({ ...base, after, calls, perCall });
        return noting(await withBatchHalving(messageBatch, (l) => (messageBatch = l), page));
      }
      case 'unread':
        return noting(await unreadApi.setUnreadCountsPage({ ...base, after, calls: callsPerActivity('set_unread_msg_num') }));
    }
  }
}
