/**
 * One user's history: profile, friend list, the one-to-one conversations the user owns (each
 * conversation is owned by its lexicographically smaller user id, so it is imported once), then
 * the read marks of those conversations. Friends are written one call after another, never
 * concurrently, because IM answers concurrent writes to one friend list with 30008.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { ChildOutcome, ImportPhase, UserImportInput, UserStage } from './api';
import { callsPerActivity } from './task-queues';
import { imActivities, runStages, storeActivities, withBatchHalving, type RunControl, type StageStep } from './control';
import type { Counts, Cursor } from './api';

/**
 * Conversations of one user imported side by side (order only matters within a conversation), and
 * how many pages each may import before the step ends, so a step's history stays bounded and pause
 * and continue-as-new are never far away.
 */
const CONVERSATION_LANES = 8;
const PAGES_PER_STEP = 20;

interface Lane {
  peer: string;
  after?: Cursor;
}
/** Where the messages stage stands: the owned-peer cursor and the conversations under way. */
interface MessagesCursor {
  peersAfter?: Cursor;
  peersDone: boolean;
  lanes: Lane[];
}

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
  const store = storeActivities(p);

  /** One step of the messages stage: up to CONVERSATION_LANES conversations, each up to PAGES_PER_STEP pages. */
  async function importConversations(after: Cursor | undefined, control: RunControl): Promise<StageStep> {
    const state: MessagesCursor = after ? (JSON.parse(after) as MessagesCursor) : { peersDone: false, lanes: [] };
    while (state.lanes.length < CONVERSATION_LANES && !state.peersDone) {
      const page = await store.listOwnedPeers({ userId: input.userId, after: state.peersAfter, limit: CONVERSATION_LANES - state.lanes.length });
      state.lanes.push(...page.ids.map((peer) => ({ peer })));
      state.peersAfter = page.next;
      state.peersDone = page.next === undefined;
    }
    const total: Counts = { done: 0, failed: 0 };
    const lanes = await Promise.all(
      state.lanes.map(async (lane): Promise<Lane | undefined> => {
        let cursor = lane.after;
        for (let i = 0; i < PAGES_PER_STEP; i++) {
          if (control.paused || control.cancelled) break;
          const page = await messageApi.importMessagesPage({ ...base, peer: lane.peer, after: cursor, calls: callsPerActivity('importmsg') });
          total.done += page.done;
          total.failed += page.failed;
          if (page.next === undefined) return undefined;
          cursor = page.next;
        }
        return { peer: lane.peer, after: cursor };
      }),
    );
    const next: MessagesCursor = { ...state, lanes: lanes.filter((l): l is Lane => l !== undefined) };
    return { ...total, next: next.lanes.length || !next.peersDone ? JSON.stringify(next) : undefined };
  }

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
    step: async (stage, after, control) => {
      switch (stage) {
        case 'profile':
          return profileApi.importProfile({ ...base, skipNickAndFace: input.accountListShape });
        case 'friends':
          return withBatchHalving(friendBatch, (l) => (friendBatch = l), (limit) => friendApi.importFriendsPage({ ...base, after, limit }));
        case 'messages':
          return importConversations(after, control);
        case 'readMarks':
          return readApi.importReadMarksPage({ ...base, after, calls: callsPerActivity('admin_set_msg_read') });
      }
    },
  });
}
