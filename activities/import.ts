/**
 * The import's side effects: each activity reads a page from the staging store, calls one IM API,
 * records items IM rejects for good in the failure report, and returns counts and a cursor.
 * Every write is idempotent by construction (MsgSeq/MsgRandom/Random derived from the old id,
 * account and member imports are upserts, group history resumes after what IM already holds),
 * so Temporal may retry any activity at any point.
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { ApiLimitTable, ImApiName } from '../im/apis';
import { ImClient, type ItemOutcome } from '../im/client';
import { GROUP_NOT_FOUND_CODE, ImError } from '../im/errors';
import { NON_IMPORTABLE_GROUP_TYPES, PROFILE_TAGS, SYNC_FROM_OLD_SYSTEM, UNREAD_COUNT_GROUP_TYPES, type GroupType } from '../im/messages';
import { messageIdentity } from '../legacy/id-mapping';
import type { Counts, Cursor, ImportPhase, PhaseTotals } from '../workflows/api';
import { emptyTotals } from '../workflows/api';
import type { GroupImportOutcome, ImportActivities, PageOutcome, StoreActivities } from './contracts';
import { asActivity, isItemFailure } from './im-failures';
import type { FailureRecord, FailureSink, LegacySource, RunStates } from '../legacy/source';

export interface ImportDeps {
  im: ImClient;
  source: LegacySource;
  failures: FailureSink;
  runStates: RunStates;
  limits: ApiLimitTable;
  /** multiaccount_import with `AccountList` (nick and face in the same call). */
  accountListShape: boolean;
  /** Clock for "now" checks (import_group_msg needs times before now). */
  nowS?: () => number;
}

type Entity = FailureRecord['entity'];

/**
 * A page's progress heartbeat, sent only once the page has run for a while, or when the page fails.
 * The SDK sends an attempt's first heartbeat at once and the server persists each one: on pages of
 * a few calls that was a write per page (5 % of the dev server's CPU in the import benchmark). A
 * page that never heartbeats is still caught on a dead worker (the heartbeat timeout runs from the
 * attempt's start), and a failing page hands its progress on to the retry as before: without it,
 * every retry redid the whole page and met the next fault sooner (the fault-injection test took
 * three times as long).
 */
const HEARTBEAT_AFTER_MS = 3000;
interface Progress {
  (details?: unknown): void;
  /** The newest progress not yet heartbeated, heartbeated now (before the attempt fails). */
  flush(): void;
}
function progressHeartbeat(): Progress {
  const startedMs = Date.now();
  let unsent: { details?: unknown } | undefined;
  const progress = (details?: unknown) => {
    unsent = { details };
    if (Date.now() - startedMs < HEARTBEAT_AFTER_MS) return;
    heartbeat(details);
    unsent = undefined;
  };
  progress.flush = () => {
    if (unsent) heartbeat(unsent.details);
    unsent = undefined;
  };
  return progress;
}

/** Resume point inside a page after a retry: how many items of this page are already done. */
function resumeIndex(): number {
  const details = activityInfo().heartbeatDetails as { index?: number } | undefined;
  return details?.index ?? 0;
}

export function createImportActivities(deps: ImportDeps): ImportActivities {
  const { im, source, failures, runStates, limits } = deps;
  const nowS = deps.nowS ?? (() => Math.floor(Date.now() / 1000));

  const fail = (migrationId: string, entity: Entity, itemId: string, api: ImApiName, code: number, errorClass: string, reason: string) =>
    failures.record({ migrationId, entity, itemId, api, code, errorClass, reason });

  /** One item's call: item-class IM errors go to the failure report, the rest propagate (retry / stop). */
  async function perItem(migrationId: string, entity: Entity, itemId: string, api: ImApiName, call: () => Promise<unknown>): Promise<Counts> {
    try {
      await call();
      return { done: 1, failed: 0 };
    } catch (err) {
      if (err instanceof ImError && isItemFailure(err.errorClass)) {
        fail(migrationId, entity, itemId, api, err.code, err.errorClass, err.info);
        return { done: 0, failed: 1 };
      }
      throw err;
    }
  }

  function recordOutcomes(migrationId: string, entity: Entity, api: ImApiName, outcomes: ItemOutcome[], itemId: (o: ItemOutcome) => string = (o) => o.id): Counts {
    let failed = 0;
    for (const o of outcomes) {
      if (o.ok) continue;
      failed++;
      fail(migrationId, entity, itemId(o), api, o.code, o.errorClass ?? 'invalid', o.reason ?? 'rejected by IM');
    }
    return { done: outcomes.length - failed, failed };
  }

  /**
   * A page's body, unless the run was paused or cancelled when the page left its queue: then it
   * makes no call and goes back to its workflow, which runs it again after resume. The children's
   * pause signals cannot reach the pages already waiting in a rate-limited queue; this does.
   */
  const asPage = (migrationId: string, after: Cursor | undefined, body: (progress: Progress) => Promise<PageOutcome>): Promise<PageOutcome> =>
    runStates.runState(migrationId) === 'running'
      ? asActivity(async () => {
          const progress = progressHeartbeat();
          try {
            return await body(progress);
          } catch (err) {
            progress.flush();
            throw err;
          }
        })
      : Promise.resolve({ done: 0, failed: 0, next: after, held: true });

  /** Runs `items` one call each, reporting progress so a retry resumes after the last finished item. */
  async function sequentially<T>(items: T[], progress: Progress, run: (item: T) => Promise<Counts>): Promise<Counts> {
    const total = { done: 0, failed: 0 };
    for (let i = resumeIndex(); i < items.length; i++) {
      const c = await run(items[i]);
      total.done += c.done;
      total.failed += c.failed;
      progress({ index: i + 1 });
    }
    return total;
  }

  /**
   * One failure-report item through its API again; true when it went through. A failure that is
   * final again is recorded anew (with its newest reason) by perItem / recordOutcomes.
   */
  async function retryOne(migrationId: string, entity: Exclude<Entity, 'group'>, itemId: string): Promise<boolean> {
    const [left, right] = itemId.split('>');
    const once = async (api: ImApiName, call: () => Promise<unknown>) => (await perItem(migrationId, entity, itemId, api, call)).done === 1;
    switch (entity) {
      case 'account':
        return recordOutcomes(migrationId, 'account', 'multiaccount_import', await im.multiaccountImport({ Accounts: [itemId] })).done === 1;
      case 'profile': {
        const items = source.profile(itemId)?.items ?? [];
        return items.length === 0 || once('portrait_set', () => im.call('portrait_set', { From_Account: itemId, ProfileItem: items }));
      }
      case 'friend': {
        const f = source.friend(left, right);
        if (!f) return true;
        const outcomes = await im.friendImport({ From_Account: left, AddFriendItem: [{ To_Account: f.toUserId, Remark: f.remark, GroupName: f.groupNames, AddSource: f.addSource, AddWording: f.addWording, AddTime: f.addTime, CustomItem: f.customItems }] });
        return recordOutcomes(migrationId, 'friend', 'friend_import', outcomes, () => itemId).done === 1;
      }
      case 'message': {
        const m = source.message(itemId);
        if (!m) return true;
        const { msgSeq, msgRandom } = messageIdentity(m.oldId);
        return once('importmsg', () =>
          im.call('importmsg', { SyncFromOldSystem: SYNC_FROM_OLD_SYSTEM.history, From_Account: m.from, To_Account: m.to, MsgSeq: msgSeq, MsgRandom: msgRandom, MsgTimeStamp: m.time, MsgBody: m.body, CloudCustomData: m.cloudCustomData }),
        );
      }
      case 'readMark': {
        const r = source.readMark(left, right);
        return !r || once('admin_set_msg_read', () => im.call('admin_set_msg_read', { Report_Account: r.reader, Peer_Account: r.peer, MsgReadTime: r.readUpTo }));
      }
      case 'member': {
        const m = source.groupMember(left, right);
        if (!m) return true;
        const outcomes = await im.importGroupMember({ GroupId: left, MemberList: [{ Member_Account: m.userId, Role: m.role === 'Admin' ? 'Admin' : undefined, JoinTime: m.joinTime }] });
        return recordOutcomes(migrationId, 'member', 'import_group_member', outcomes, () => itemId).done === 1;
      }
      case 'groupMessage': {
        // IM takes only messages newer than the group's newest: an older one can only fail again.
        const m = source.groupMessage(itemId);
        if (!m) return true;
        const outcomes = await im.importGroupMsg({ GroupId: m.groupId, MsgList: [{ From_Account: m.from, SendTime: m.time, Random: messageIdentity(m.oldId).msgRandom, MsgBody: m.body }] });
        return recordOutcomes(migrationId, 'groupMessage', 'import_group_msg', outcomes, () => itemId).done === 1;
      }
      case 'unreadCount': {
        const m = source.groupMember(left, right);
        return !m || once('set_unread_msg_num', () => im.call('set_unread_msg_num', { GroupId: left, Member_Account: right, UnreadMsgNum: m.unreadCount ?? 0 }));
      }
    }
  }

  return {
    importAccountBatch: ({ migrationId, after, limit }) =>
      asActivity(async () => {
        const page = source.accounts({ after: after ?? undefined, limit });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const outcomes = deps.accountListShape
          ? await im.multiaccountImport({ AccountList: page.items.map((a) => ({ UserID: a.userId, Nick: a.nick, FaceUrl: a.faceUrl })) })
          : await im.multiaccountImport({ Accounts: page.items.map((a) => a.userId) });
        return recordOutcomes(migrationId, 'account', 'multiaccount_import', outcomes);
      }),

    importProfile: ({ migrationId, userId, skipNickAndFace }) =>
      asActivity(async () => {
        const profile = source.profile(userId);
        const skip = new Set<string>(skipNickAndFace ? [PROFILE_TAGS.nick.tag, PROFILE_TAGS.faceUrl.tag] : []);
        const items = (profile?.items ?? []).filter((i) => !skip.has(i.Tag));
        if (items.length === 0) return { done: 1, failed: 0 };
        return perItem(migrationId, 'profile', userId, 'portrait_set', () => im.call('portrait_set', { From_Account: userId, ProfileItem: items }));
      }),

    importFriendsPage: ({ migrationId, userId, after, limit }) =>
      asPage(migrationId, after, async () => {
        const page = source.friends(userId, { after, limit: Math.min(limit, limits.friend_import.maxItems) });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const AddFriendItem = page.items.map((f) => ({
          To_Account: f.toUserId,
          Remark: f.remark,
          GroupName: f.groupNames,
          AddSource: f.addSource,
          AddWording: f.addWording,
          AddTime: f.addTime,
          CustomItem: f.customItems,
        }));
        try {
          const outcomes = await im.friendImport({ From_Account: userId, AddFriendItem });
          return { ...recordOutcomes(migrationId, 'friend', 'friend_import', outcomes, (o) => `${userId}>${o.id}`), next: page.next };
        } catch (err) {
          // The owner itself is missing: every friend of this page fails for the same reason.
          if (err instanceof ImError && isItemFailure(err.errorClass)) {
            for (const f of page.items) fail(migrationId, 'friend', `${userId}>${f.toUserId}`, 'friend_import', err.code, err.errorClass, err.info);
            return { done: 0, failed: page.items.length, next: page.next };
          }
          throw err;
        }
      }),

    importMessagesPage: ({ migrationId, userId, after, calls }) =>
      asPage(migrationId, after, async (progress) => {
        // A full page of the user's owned messages; its conversations go side by side, each
        // conversation's messages one after another, oldest first (the only order IM needs).
        const page = source.ownedMessages(userId, { after, limit: calls });
        const byConversation = new Map<string, typeof page.items>();
        for (const m of page.items) {
          const key = m.from < m.to ? `${m.from}|${m.to}` : `${m.to}|${m.from}`;
          byConversation.set(key, [...(byConversation.get(key) ?? []), m]);
        }
        // A retried page skips the messages an earlier attempt finished (heartbeat details).
        const finished = new Set((activityInfo().heartbeatDetails as { finished?: string[] } | undefined)?.finished ?? []);
        const counts = { done: 0, failed: 0 };
        await Promise.all(
          [...byConversation.values()].map(async (messages) => {
            for (const m of messages) {
              if (finished.has(m.oldId)) {
                counts.done++;
                continue;
              }
              const { msgSeq, msgRandom } = messageIdentity(m.oldId);
              const c = await perItem(migrationId, 'message', m.oldId, 'importmsg', () =>
                im.call('importmsg', {
                  SyncFromOldSystem: SYNC_FROM_OLD_SYSTEM.history,
                  From_Account: m.from,
                  To_Account: m.to,
                  MsgSeq: msgSeq,
                  MsgRandom: msgRandom,
                  MsgTimeStamp: m.time,
                  MsgBody: m.body,
                  CloudCustomData: m.cloudCustomData,
                }),
              );
              counts.done += c.done;
              counts.failed += c.failed;
              finished.add(m.oldId);
              progress({ finished: [...finished] });
            }
          }),
        );
        return { ...counts, next: page.next };
      }),

    importReadMarksPage: ({ migrationId, userId, scope, after, calls }) =>
      asPage(migrationId, after, async (progress) => {
        const page = source.ownedReadMarks(userId, { after, limit: calls }, scope);
        const counts = await sequentially(page.items, progress, (r) =>
          perItem(migrationId, 'readMark', `${r.reader}>${r.peer}`, 'admin_set_msg_read', () =>
            im.call('admin_set_msg_read', { Report_Account: r.reader, Peer_Account: r.peer, MsgReadTime: r.readUpTo }),
          ),
        );
        return { ...counts, next: page.next };
      }),

    importGroup: ({ migrationId, groupId }) =>
      asActivity(async (): Promise<{ outcome: GroupImportOutcome }> => {
        const g = source.group(groupId);
        if (!g) {
          fail(migrationId, 'group', groupId, 'import_group', GROUP_NOT_FOUND_CODE, 'missing-reference', 'group is not in the staging store');
          return { outcome: 'failed' };
        }
        if (NON_IMPORTABLE_GROUP_TYPES.includes(g.type as GroupType)) {
          fail(migrationId, 'group', groupId, 'import_group', 10007, 'unsupported', `${g.type} groups cannot be imported into IM (create them live instead)`);
          return { outcome: 'unsupported' };
        }
        try {
          await im.call('import_group', {
            GroupId: g.groupId,
            Type: g.type,
            Owner_Account: g.ownerId,
            Name: g.name,
            Introduction: g.introduction,
            Notification: g.notification,
            FaceUrl: g.faceUrl,
            MaxMemberCount: g.maxMemberCount,
            ApplyJoinOption: g.applyJoinOption,
            CreateTime: g.createTime,
            AppDefinedData: g.appDefinedData,
          });
          failures.clearFailure(migrationId, 'group', groupId);
          return { outcome: 'created' };
        } catch (err) {
          // Our own earlier import (a retry after a lost answer, or a re-run) holds the id.
          if (err instanceof ImError && err.errorClass === 'already-exists') {
            failures.clearFailure(migrationId, 'group', groupId);
            return { outcome: 'existed' };
          }
          if (err instanceof ImError && isItemFailure(err.errorClass)) {
            fail(migrationId, 'group', groupId, 'import_group', err.code, err.errorClass, err.info);
            return { outcome: 'failed' };
          }
          throw err;
        }
      }),

    importGroupMembersPage: ({ migrationId, groupId, after, limit }) =>
      asPage(migrationId, after, async () => {
        const page = source.groupMembers(groupId, { after, limit: Math.min(limit, limits.import_group_member.maxItems) });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const outcomes = await im.importGroupMember({
          GroupId: groupId,
          // Unread counts are set after the group's messages: importing messages resets them.
          MemberList: page.items.map((m) => ({ Member_Account: m.userId, Role: m.role === 'Admin' ? ('Admin' as const) : undefined, JoinTime: m.joinTime })),
        });
        return { ...recordOutcomes(migrationId, 'member', 'import_group_member', outcomes, (o) => `${groupId}>${o.id}`), next: page.next };
      }),

    importGroupMessagesPage: ({ migrationId, groupId, after, calls }) =>
      asPage(migrationId, after, async (progress) => {
        const perCall = limits.import_group_msg.maxItems;
        const cursor = GroupHistoryCursor.parse(after);
        const group = source.group(groupId);
        const page = source.groupMessages(groupId, { after: cursor.after, limit: calls * perCall });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        // IM needs strictly increasing times after the group's creation: messages sharing a second
        // (or older than the group) move to the next free second, in their original order.
        let last = Math.max(cursor.lastSendTime, group?.createTime ?? 0);
        const planned = page.items.map((m) => {
          last = Math.max(m.time, last + 1);
          return { m, sendTime: last };
        });
        // What IM already holds (an earlier attempt whose answer was lost, or a re-run) is skipped.
        const info = await im.call('get_group_info', { GroupIdList: [groupId], ResponseFilter: { GroupBaseInfoFilter: ['LastMsgTime', 'NextMsgSeq'] } });
        const imLast = info.GroupInfo[0]?.LastMsgTime ?? 0;
        const pending = planned.filter((p) => p.sendTime > imLast);
        const counts = { done: planned.length - pending.length, failed: 0 };
        const now = nowS();
        for (let i = 0; i < pending.length; i += perCall) {
          const chunk = pending.slice(i, i + perCall);
          const tooNew = chunk.filter((p) => p.sendTime >= now);
          for (const p of tooNew) fail(migrationId, 'groupMessage', p.m.oldId, 'import_group_msg', 10004, 'invalid', 'send time would not be before now after ordering');
          counts.failed += tooNew.length;
          const sendable = chunk.filter((p) => p.sendTime < now);
          if (sendable.length === 0) continue;
          const outcomes = await im.importGroupMsg({
            GroupId: groupId,
            MsgList: sendable.map((p) => ({ From_Account: p.m.from, SendTime: p.sendTime, Random: messageIdentity(p.m.oldId).msgRandom, MsgBody: p.m.body })),
          });
          const c = recordOutcomes(migrationId, 'groupMessage', 'import_group_msg', outcomes.map((o, j) => ({ ...o, id: sendable[j].m.oldId })));
          counts.done += c.done;
          counts.failed += c.failed;
          progress();
        }
        const next = page.next === undefined ? undefined : GroupHistoryCursor.format({ after: page.next, lastSendTime: last });
        return { ...counts, next };
      }),

    setUnreadCountsPage: ({ migrationId, groupId, after, calls }) =>
      asPage(migrationId, after, async (progress) => {
        const group = source.group(groupId);
        const page = source.groupUnreadCounts(groupId, { after, limit: calls });
        if (!group || !UNREAD_COUNT_GROUP_TYPES.includes(group.type as GroupType)) {
          // IM keeps no unread counts for this type; setting them is ineffective, so nothing to do.
          return { done: page.items.length, failed: 0, next: page.next };
        }
        const counts = await sequentially(page.items, progress, (m) =>
          perItem(migrationId, 'unreadCount', `${groupId}>${m.userId}`, 'set_unread_msg_num', () =>
            im.call('set_unread_msg_num', { GroupId: groupId, Member_Account: m.userId, UnreadMsgNum: m.unreadCount ?? 0 }),
          ),
        );
        return { ...counts, next: page.next };
      }),

    retryFailedItems: ({ migrationId, entity, itemIds }) =>
      asActivity(async () => {
        const total = { done: 0, failed: 0 };
        for (const itemId of itemIds) {
          // A retried activity skips what its earlier attempt already got through (cleared from the report).
          if (!failures.isFailed(migrationId, entity, itemId)) {
            total.done++;
            continue;
          }
          const ok = await retryOne(migrationId, entity, itemId);
          if (ok) failures.clearFailure(migrationId, entity, itemId);
          total.done += ok ? 1 : 0;
          total.failed += ok ? 0 : 1;
          heartbeat();
        }
        return total;
      }),
  };
}

/** A group-history cursor: the store's cursor plus the last send time assigned so far. */
const GroupHistoryCursor = {
  parse(cursor: string | undefined): { after?: string; lastSendTime: number } {
    if (cursor === undefined) return { lastSendTime: 0 };
    const parsed = JSON.parse(cursor) as { a: string; t: number };
    return { after: parsed.a, lastSendTime: parsed.t };
  },
  format(c: { after: string; lastSendTime: number }): string {
    return JSON.stringify({ a: c.after, t: c.lastSendTime });
  },
};

const TOTAL_OF: Record<ImportPhase, keyof ReturnType<LegacySource['totals']> | undefined> = {
  accounts: 'accounts',
  profiles: 'accounts',
  friends: 'friends',
  messages: 'messages',
  readMarks: 'readMarks',
  groups: 'groups',
  members: 'members',
  groupMessages: 'groupMessages',
  unreadCounts: 'unreadCounts',
};

export function createStoreActivities(deps: { source: LegacySource; failures: FailureSink; runStates: RunStates }): StoreActivities {
  const { source, failures, runStates } = deps;
  return {
    async countTotals({ phases }): Promise<PhaseTotals> {
      const totals = source.totals();
      const result = emptyTotals();
      for (const phase of phases) {
        const key = TOTAL_OF[phase];
        if (key) result[phase] = totals[key];
      }
      return result;
    },
    async planAccountBatches({ after, batchSize, batches }) {
      const starts: Array<string | null> = [];
      let cursor = after;
      for (let i = 0; i < batches; i++) {
        const page = source.accountIds({ after: cursor, limit: batchSize });
        if (page.items.length === 0) return { starts, next: undefined };
        starts.push(cursor ?? null);
        if (page.next === undefined) return { starts, next: undefined };
        cursor = page.next;
      }
      return { starts, next: cursor };
    },
    async planOwnedPages({ userId, items, after, pageSize, pages, scope }) {
      return source.planOwnedPages(userId, items, { after, pageSize, pages, scope });
    },
    async listUserIds({ after, limit }) {
      const page = source.accountIds({ after, limit });
      return { ids: page.items, next: page.next };
    },
    async listGroupIds({ after, limit }) {
      const page = source.groupIds({ after, limit });
      return { ids: page.items, next: page.next };
    },
    async summarizeFailures({ migrationId }) {
      return failures.countByEntity(migrationId);
    },
    async recordRunState({ migrationId, state }) {
      runStates.setRunState(migrationId, state);
    },
    async markGroupHistoryImported({ groupId }) {
      source.markGroupHistoryImported(groupId);
    },
    async listFailures({ migrationId, after, limit }) {
      const page = failures.failures(migrationId, { after, limit });
      return { items: page.items.map((f) => ({ entity: f.entity, itemId: f.itemId })), next: page.next };
    },
  };
}
