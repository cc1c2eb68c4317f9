/**
 * The activities the import workflows call, as types only (workflows import this file with
 * `import type`). Inputs and results carry cursors, ids and counts; activities read message
 * bodies and profiles from the staging store themselves and write per-item failures to the
 * store's failure report, so nothing personal lands in Temporal history.
 */
import type { ImApiName } from '../im/apis';
import type { MigrationRunState, OwnedItems, PagePlan, ReadMarkScope } from '../legacy/source';
import type { Counts, Cursor, ImportPhase, PhaseTotals } from '../workflows/api';
import type { VerifyRun, VerifyTally } from '../workflows/verify-api';

export interface PageOutcome extends Counts {
  /** Where the next page starts; absent when this was the last page. */
  next?: Cursor;
  /** The run was paused or cancelled when the page left its queue: it made no call, and runs again after resume. */
  held?: true;
  /** IM refused the group itself: nothing more of it can be imported, its remaining items go to the failure report. */
  groupStop?: GroupStop;
}

/** Why a group's import stopped: IM's answer (or the tool's own reason), for its remaining items' failure records. */
export interface GroupStop {
  api: ImApiName;
  code: number;
  errorClass: string;
  reason: string;
}

export interface IdPage {
  ids: string[];
  next?: Cursor;
}

export type GroupImportOutcome = 'created' | 'existed' | 'unsupported' | 'failed';
/** The stages whose items a stopped group reports (workflows/api.ts GroupStage). */
export type StoppedGroupStage = 'members' | 'messages' | 'unread';

/** Store-only activities: no IM calls, no rate limit. */
export interface StoreActivities {
  /** What is left to import of these phases: the items IM has not accepted. */
  countTotals(input: { phases: ImportPhase[] }): Promise<PhaseTotals>;
  /** `start --full`: forgets what the import wrote to IM, so everything is sent again (never what the live sync wrote). */
  forgetImported(input: { migrationId: string }): Promise<void>;
  /** Start cursors of the next `batches` account batches of `batchSize`, so batches can run side by side. */
  planAccountBatches(input: {
    after?: Cursor;
    batchSize: number;
    batches: number;
  }): Promise<{ starts: Array<Cursor | null>; next?: Cursor }>;
  /** The user's next pages of owned messages or read marks (cursors only), so they can run side by side. */
  planOwnedPages(input: {
    userId: string;
    items: OwnedItems;
    after?: Cursor;
    pageSize: number;
    pages: number;
    scope?: ReadMarkScope;
  }): Promise<PagePlan>;
  listUserIds(input: { after?: Cursor; limit: number }): Promise<IdPage>;
  listGroupIds(input: { after?: Cursor; limit: number }): Promise<IdPage>;
  summarizeFailures(input: { migrationId: string }): Promise<Record<string, number>>;
  /** A page of the failure report: entities and item ids only. */
  listFailures(input: {
    migrationId: string;
    after?: Cursor;
    limit: number;
  }): Promise<{ items: Array<{ entity: FailureEntity; itemId: string }>; next?: Cursor }>;
  /** The migration's pause and cancel, where every page looks before its first call (RunStates). */
  recordRunState(input: { migrationId: string; state: MigrationRunState }): Promise<void>;
  runState(input: { migrationId: string }): Promise<MigrationRunState>;
  /** Lets the group's live sync (held until now) apply its events. */
  markGroupHistoryImported(input: { groupId: string }): Promise<void>;
  /** A page of a stopped group's items of one stage, put in the failure report with the stop's reason. */
  reportStoppedGroupItems(input: {
    migrationId: string;
    groupId: string;
    stage: StoppedGroupStage;
    after?: Cursor;
    limit: number;
    stop: GroupStop;
  }): Promise<PageOutcome>;
}

export type FailureEntity = 'account' | 'profile' | 'friend' | 'message' | 'readMark' | 'group' | 'member' | 'groupMessage' | 'unreadCount';

/** One IM API each (the queue of that API): see workflows/task-queues.ts. */
export interface ImportActivities {
  /** multiaccount_import: one call of up to `limit` accounts after `after` (null: from the start). */
  importAccountBatch(input: { migrationId: string; after: Cursor | null; limit: number }): Promise<Counts>;
  /** portrait_set: one user's standard and custom profile fields. */
  importProfile(input: { migrationId: string; userId: string; skipNickAndFace: boolean }): Promise<Counts>;
  /** friend_import: one call with up to `limit` of the user's friends. */
  importFriendsPage(input: { migrationId: string; userId: string; after?: Cursor; limit: number }): Promise<PageOutcome>;
  /** importmsg: the next messages of the conversations the user owns, oldest first per conversation. */
  importMessagesPage(input: { migrationId: string; userId: string; after?: Cursor; calls: number }): Promise<PageOutcome>;
  /** admin_set_msg_read: the read marks of the conversations the user owns (all, or those of `scope`). */
  importReadMarksPage(input: {
    migrationId: string;
    userId: string;
    scope?: ReadMarkScope;
    after?: Cursor;
    calls: number;
  }): Promise<PageOutcome>;
  /** import_group: the group's profile, owner, type and creation time. */
  importGroup(input: { migrationId: string; groupId: string }): Promise<{ outcome: GroupImportOutcome; groupStop?: GroupStop }>;
  /**
   * The 'mute' handoff (im/messages.ts GROUP_HISTORY_HANDOFFS): MuteAllMember On until the group's
   * history is in, its own setting recorded in the store first. On the import_group queue: one call
   * per group, like import_group's.
   */
  holdGroupHistory(input: { migrationId: string; groupId: string }): Promise<{ muted: boolean }>;
  /** The group's own MuteAllMember again, once its history is in (nothing to do without a hold). */
  releaseGroupHistory(input: { migrationId: string; groupId: string }): Promise<{ restored: boolean }>;
  /** import_group_member: one call with up to `limit` members, with join time and role. */
  importGroupMembersPage(input: { migrationId: string; groupId: string; after?: Cursor; limit: number }): Promise<PageOutcome>;
  /** import_group_msg: up to `calls` calls of at most `perCall` (and 7) messages, oldest first, resuming after what IM already holds. */
  importGroupMessagesPage(input: {
    migrationId: string;
    groupId: string;
    after?: Cursor;
    calls: number;
    perCall?: number;
  }): Promise<PageOutcome>;
  /** set_unread_msg_num: members' unread counts, after the group's messages. */
  setUnreadCountsPage(input: { migrationId: string; groupId: string; after?: Cursor; calls: number }): Promise<PageOutcome>;
  /**
   * Re-import items of the failure report (one entity, one API): an item that goes through leaves
   * the report, one that fails again keeps its newest reason. Runs on that entity's API queue.
   */
  retryFailedItems(input: { migrationId: string; entity: Exclude<FailureEntity, 'group'>; itemIds: string[] }): Promise<Counts>;
}

/** One read call's outcome: counts settled so far, and where the next call starts. */
export interface VerifyStep<C> {
  tally: VerifyTally;
  next?: C;
}

/** Verification activities, one read API each (see workflows/verify.ts for the queues). */
export interface VerifyActivities {
  /** account_check: up to `limit` accounts after `after`. */
  verifyAccountsPage(input: VerifyRun & { after?: string; limit: number }): Promise<VerifyStep<string>>;
  /** portrait_get: the profiles of the same accounts. */
  verifyProfilesPage(input: VerifyRun & { after?: string; limit: number }): Promise<VerifyStep<string>>;
  /** friend_get: one page of a user's friend list; the last page compares the whole list. */
  verifyFriendsPage(input: VerifyRun & { userId: string; startIndex?: number }): Promise<VerifyStep<number>>;
  /** admin_getroammsg: one page of a conversation, newest first; the last page compares it whole. */
  verifyConversationPage(input: VerifyRun & { owner: string; peer: string; cursor?: RoamCursor }): Promise<VerifyStep<RoamCursor>>;
  /** get_group_info: the group's profile; says whether its members and history can be compared. */
  verifyGroupInfo(input: VerifyRun & { groupId: string }): Promise<{ tally: VerifyTally; compareContent: boolean; nextMsgSeq: number }>;
  /** get_group_member_info: one page of members; the last page compares members and unread counts. */
  verifyGroupMembersPage(input: VerifyRun & { groupId: string; offset?: number; nextMsgSeq: number }): Promise<VerifyStep<number>>;
  /** group_msg_get_simple: one page of history, newest first; the last page compares it whole. */
  verifyGroupMessagesPage(input: VerifyRun & { groupId: string; reqMsgSeq?: number }): Promise<VerifyStep<number>>;
}

/** Store-only activities of a verification (the store queue). */
export interface VerifyStoreActivities {
  /** Start cursors of the next `pages` pages of `pageSize` accounts, over every account (accepted or not). */
  planAccountPages(input: { after?: string; pageSize: number; pages: number }): Promise<{ starts: Array<string | null>; next?: string }>;
  /** The peers of the conversations a user owns, a page at a time. */
  listOwnedConversations(input: { userId: string; after?: string; limit: number }): Promise<IdPage>;
  /** Forgets what an earlier run under this id found. */
  startVerification(input: { verifyId: string; migrationId: string }): Promise<void>;
  countDifferences(input: { verifyId: string }): Promise<Record<string, number>>;
}

export interface RoamCursor {
  lastMsgKey: string;
  maxTime: number;
}
