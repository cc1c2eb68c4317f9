/**
 * What the import activities read from the staging store, page by page with keyset cursors. The
 * ids here are IM ids (already mapped); message bodies are IM elements, passed through unchanged.
 * The staging store (legacy/store.ts) implements it over SQLite; a PostgreSQL store comes next.
 */
import type { FailureEntity } from '../activities/contracts';
import type { MsgBody } from '../im/messages';

export interface Page<T> {
  items: T[];
  /** Cursor after the last item; absent when there is nothing more. */
  next?: string;
}
export interface PageRequest {
  after?: string;
  limit: number;
}

/** What a user's child imports page by page: the messages and the read marks of the conversations the user owns. */
export type OwnedItems = 'messages' | 'readMarks';

/**
 * Which of a user's read marks: all of them (absent); those of the conversations with these peers
 * (conversations whose messages are all imported); or those of the conversations that hold no
 * message IM has not accepted (none at all, or all of them imported by an earlier run).
 */
export type ReadMarkScope = { peers: string[] } | 'withoutMessages';

export interface PagePlanRequest {
  after?: string;
  pageSize: number;
  pages: number;
  /** Read marks only. */
  scope?: ReadMarkScope;
}

/** One page of a plan: its items follow the cursor `after` (null: from the very beginning). */
export interface PlannedPage {
  after: string | null;
  /** How many items: the page size, or fewer where the page ends early so that a chain stops. */
  items: number;
  /**
   * Messages only: the conversations whose last message is on this page (their read marks may
   * follow it), each with how many read marks it has (0-2), so that read-mark pages can be filled.
   */
  finishes?: FinishedConversation[];
}

export interface FinishedConversation {
  peer: string;
  readMarks: number;
}

/** Pages that run one after another (a conversation's messages stay oldest first); chains run side by side. */
export interface PageChain {
  pages: PlannedPage[];
}

/** The next pages, planned at once so they can run side by side. */
export interface PagePlan {
  chains: PageChain[];
  next?: string;
}

export interface ImportAccount {
  userId: string;
  nick?: string;
  faceUrl?: string;
}

/** portrait_set items: standard and custom profile tags with their values. */
export interface ImportProfile {
  userId: string;
  items: Array<{ Tag: string; Value: string | number }>;
}

export interface ImportFriend {
  toUserId: string;
  remark?: string;
  groupNames?: string[];
  addSource: string;
  addWording?: string;
  addTime?: number;
  customItems?: Array<{ Tag: string; Value: string | number }>;
}

export interface ImportC2CMessage {
  oldId: string;
  from: string;
  to: string;
  /** Unix seconds. */
  time: number;
  body: MsgBody;
  cloudCustomData?: string;
  /** How many of its conversation's messages of the same second come before it (its MsgSeq, legacy/id-mapping.ts). */
  earlierInSecond: number;
}

export interface ImportReadMark {
  reader: string;
  peer: string;
  /** Messages at or before this Unix second are read. */
  readUpTo: number;
}

export interface ImportGroup {
  groupId: string;
  type: string;
  ownerId?: string;
  name: string;
  introduction?: string;
  notification?: string;
  faceUrl?: string;
  createTime?: number;
  maxMemberCount?: number;
  applyJoinOption?: string;
  appDefinedData?: Array<{ Key: string; Value: string }>;
}

export interface ImportGroupMember {
  userId: string;
  role: 'Owner' | 'Admin' | 'Member';
  joinTime?: number;
  unreadCount?: number;
}

export interface ImportGroupMessage {
  oldId: string;
  from: string;
  time: number;
  body: MsgBody;
  /** How many of the group's messages come before it (its Random, legacy/id-mapping.ts). */
  earlierInGroup: number;
}

export interface ImportTotals {
  accounts: number;
  profiles: number;
  friends: number;
  messages: number;
  readMarks: number;
  groups: number;
  members: number;
  groupMessages: number;
  unreadCounts: number;
}

/**
 * What IM has accepted, item by item, so a later run writes only what IM does not hold yet. The
 * kinds and ids are the failure report's (a pair such as a friend is its two ids). `by` says who
 * wrote it: a full re-import forgets what the import wrote, never what the live sync wrote (that
 * went in by sendmsg / send_group_msg, with an identity importing it again would not match).
 */
export type AcceptedKind = FailureEntity;
export type AcceptedId = string | readonly [string, string];
export type AcceptedBy = 'import' | 'live';

export interface AcceptedRecord {
  markAccepted(kind: AcceptedKind, ids: readonly AcceptedId[], by?: AcceptedBy): void;
  /** A group's history items IM took; its members' unread counts must be set again (importing messages zeroes them). */
  markGroupMessagesAccepted(groupId: string, oldIds: readonly string[], by?: AcceptedBy): void;
  isAccepted(kind: AcceptedKind, id: AcceptedId): boolean;
  /** `start --full`: everything the import wrote is sent again (IM de-duplicates or overwrites it). */
  forgetImported(): void;
}

export interface LegacySource extends AcceptedRecord {
  /** Everything the store holds. */
  totals(): ImportTotals;
  /** What the import still has to write: the items IM has not accepted. */
  pendingTotals(): ImportTotals;
  accounts(page: PageRequest): Page<ImportAccount>;
  /** Ids only, for planning and for fanning out child workflows. */
  accountIds(page: PageRequest): Page<string>;
  /** The ids of the accounts IM has not accepted, the ones `accounts` pages through. */
  pendingAccountIds(page: PageRequest): Page<string>;
  groupIds(page: PageRequest): Page<string>;
  profile(userId: string): ImportProfile | undefined;
  friends(userId: string, page: PageRequest): Page<ImportFriend>;
  /** Messages of the conversations `userId` owns, conversation by conversation, oldest first in each (a second's in bundle order). */
  ownedMessages(userId: string, page: PageRequest): Page<ImportC2CMessage>;
  /**
   * Read marks (of either participant) of the conversations `userId` owns. Like every page below
   * except groupMessages (whose places are the messages' identities), it leaves out what IM accepted.
   */
  ownedReadMarks(userId: string, page: PageRequest, scope?: ReadMarkScope): Page<ImportReadMark>;
  /** The next pages of ownedMessages or ownedReadMarks, planned at once (keys only). */
  planOwnedPages(userId: string, items: OwnedItems, plan: PagePlanRequest): PagePlan;
  group(groupId: string): ImportGroup | undefined;
  groupMembers(groupId: string, page: PageRequest): Page<ImportGroupMember>;
  /** Oldest first (a second's in bundle order). */
  groupMessages(groupId: string, page: PageRequest): Page<ImportGroupMessage>;
  /** Members with an unread count above zero. */
  groupUnreadCounts(groupId: string, page: PageRequest): Page<ImportGroupMember>;
  // Single items, for retrying the failure report.
  message(oldId: string): ImportC2CMessage | undefined;
  groupMessage(oldId: string): (ImportGroupMessage & { groupId: string }) | undefined;
  readMark(reader: string, peer: string): ImportReadMark | undefined;
  groupMember(groupId: string, userId: string): ImportGroupMember | undefined;
  friend(owner: string, friend: string): ImportFriend | undefined;
  /** Import → sync handoff: the group's history import has ended, its live events may flow. */
  markGroupHistoryImported(groupId: string): void;
  /**
   * Import → sync handoff of the mute rule (activities/import/group-history.ts): the group's own MuteAllMember,
   * recorded before the import mutes it, so a crash or a retry still restores it.
   */
  groupHistoryHold(groupId: string): GroupHistoryHold | undefined;
  /** Starts a hold (a restored one starts afresh: the group's own setting may have changed since). */
  recordGroupHistoryHold(hold: { groupId: string; migrationId: string; originalMute: 'On' | 'Off' }): void;
  markGroupHistoryHold(groupId: string, event: 'muted' | 'restored'): void;
  groupHistoryHolds(migrationId: string): GroupHistoryHold[];
}

/** A group muted while its history went in: its own setting, and when it was muted and restored (ms). */
export interface GroupHistoryHold {
  groupId: string;
  migrationId: string;
  originalMute: 'On' | 'Off';
  mutedAt?: number;
  restoredAt?: number;
}

/** Whether a migration's pages may call IM (a completed one's may: `retry-failed`). */
export type MigrationRunState = 'running' | 'paused' | 'cancelled' | 'completed';

/**
 * The migration workflow records its pause and cancel here, and every page looks before its first
 * call: a pause must also hold the pages already waiting in a rate-limited queue, which the
 * children's signals cannot reach. A migration with no record is running.
 */
export interface RunStates {
  setRunState(migrationId: string, state: MigrationRunState): void;
  runState(migrationId: string): MigrationRunState;
}

/** Where per-item failures go: the failure report, outside workflow history. */
export interface FailureRecord {
  migrationId: string;
  entity: FailureEntity;
  itemId: string;
  api: string;
  code: number;
  errorClass: string;
  reason: string;
}

export interface FailureSink {
  record(failure: FailureRecord): void;
  clearFailure(migrationId: string, entity: string, itemId: string): void;
  /** Whether the item is still in the failure report. */
  isFailed(migrationId: string, entity: string, itemId: string): boolean;
  countByEntity(migrationId: string): Record<string, number>;
  failures(migrationId: string, page: PageRequest & { entity?: string }): Page<FailureRecord>;
}
