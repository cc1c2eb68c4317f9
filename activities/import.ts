/**
 * The import's side effects: each activity reads a page from the staging store, calls one IM API,
 * records items IM rejects for good in the failure report, and returns counts and a cursor.
 * Every write is idempotent by construction (MsgSeq/MsgRandom/Random derived from the old id and
 * the message's place in the bundle, legacy/id-mapping.ts;
 * account and member imports are upserts, group history resumes after what IM already holds),
 * so Temporal may retry any activity at any point.
 */
import { activityInfo, heartbeat } from '@temporalio/activity';
import type { ApiLimitTable, ImApiName } from '../im/apis';
import { ImClient, type ItemOutcome } from '../im/client';
import { GROUP_NOT_FOUND_CODE, GROUP_UNUSABLE_CODES, ImError, imErrorInfo, isRetryableClass } from '../im/errors';
import {
  DEFAULT_GROUP_HISTORY_HANDOFF,
  NON_IMPORTABLE_GROUP_TYPES,
  OLDER_THAN_NEWEST_REASON,
  PROFILE_TAGS,
  SYNC_FROM_OLD_SYSTEM,
  UNREAD_COUNT_GROUP_TYPES,
  type GroupHistoryHandoff,
  type GroupType,
} from '../im/messages';
import { importedMessageIdentity } from '../legacy/id-mapping';
import type { Counts, Cursor, ImportPhase, PhaseTotals } from '../workflows/api';
import { emptyTotals } from '../workflows/api';
import type { GroupImportOutcome, GroupStop, ImportActivities, PageOutcome, StoreActivities } from './contracts';
import { asActivity, isItemFailure } from './im-failures';
import { pairItemId, splitPairItemId } from './item-ids';
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
  /** How a group's history import keeps live posts out (im/messages.ts GROUP_HISTORY_HANDOFFS); 'mute' by default. */
  groupHistoryHandoff?: GroupHistoryHandoff;
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

/** A friends page that must send some friends again: those, and the counts of the others. */
interface FriendsProgress extends Counts {
  pending: string[];
}

/** Resume point inside a page after a retry: how many items of this page are already done. */
function resumeIndex(): number {
  const details = activityInfo().heartbeatDetails as { index?: number } | undefined;
  return details?.index ?? 0;
}

export function createImportActivities(deps: ImportDeps): ImportActivities {
  const { im, source, failures, runStates, limits } = deps;
  const nowS = deps.nowS ?? (() => Math.floor(Date.now() / 1000));
  const handoff = deps.groupHistoryHandoff ?? DEFAULT_GROUP_HISTORY_HANDOFF;

  const fail = (migrationId: string, entity: Entity, itemId: string, api: ImApiName, code: number, errorClass: string, reason: string) =>
    failures.record({ migrationId, entity, itemId, api, code, errorClass, reason });

  /** One item's call: item-class IM errors go to the failure report, the rest propagate (retry / stop). */
  async function perItem(
    migrationId: string,
    entity: Entity,
    itemId: string,
    api: ImApiName,
    call: () => Promise<unknown>,
  ): Promise<Counts> {
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

  /**
   * Records the items IM refused for good; those it refused with a retryable or rate-limited code
   * are not recorded but returned in `retry`, for the caller to send again.
   */
  function settleOutcomes(
    migrationId: string,
    entity: Entity,
    api: ImApiName,
    outcomes: ItemOutcome[],
    itemId: (o: ItemOutcome) => string = (o) => o.id,
  ): Counts & { retry: ItemOutcome[] } {
    const counts = { done: 0, failed: 0 };
    const retry: ItemOutcome[] = [];
    for (const o of outcomes) {
      if (o.ok) counts.done++;
      else if (isRetryableClass(o.errorClass ?? 'invalid')) retry.push(o);
      else {
        counts.failed++;
        fail(migrationId, entity, itemId(o), api, o.code, o.errorClass ?? 'invalid', o.reason ?? 'rejected by IM');
      }
    }
    return { ...counts, retry };
  }

  /** settleOutcomes for calls that are safe to send again whole (imports IM takes as upserts). */
  function recordOutcomes(
    migrationId: string,
    entity: Entity,
    api: ImApiName,
    outcomes: ItemOutcome[],
    itemId?: (o: ItemOutcome) => string,
  ): Counts {
    const { retry, ...counts } = settleOutcomes(migrationId, entity, api, outcomes, itemId);
    if (retry.length > 0) throw retryLater(api, retry);
    return counts;
  }

  /**
   * A whole call IM refused for good, for the items it carried: they go to the failure report, and an
   * answer about the group itself also stops the group. Undefined when the error must leave the
   * activity: retryable and configuration errors, and a batch IM wants smaller (the workflow halves
   * it; at one item it is that item's failure).
   */
  function refusedCall(
    migrationId: string,
    entity: Entity,
    itemIds: string[],
    err: unknown,
  ): (Counts & { groupStop?: GroupStop }) | undefined {
    if (!(err instanceof ImError) || err.retryable || err.errorClass === 'auth-config') return undefined;
    if (err.errorClass === 'batch-too-large' && itemIds.length > 1) return undefined;
    for (const id of itemIds) fail(migrationId, entity, id, err.api, err.code, err.errorClass, err.info);
    const groupStop = GROUP_UNUSABLE_CODES.includes(err.code)
      ? { api: err.api, code: err.code, errorClass: err.errorClass, reason: err.info }
      : undefined;
    return { done: 0, failed: itemIds.length, groupStop };
  }

  /**
   * Whether the group IM holds under the bundle group's id is someone else's: what differs, or
   * undefined when it is ours. IM answers 10021 for a taken GroupId whoever took it, and the docs
   * say to tell with get_group_info. Type and creation time never change once imported, so they
   * decide; a bundle group without a creation time was created at import time, so owner and name
   * decide then.
   */
  async function foreignGroup(g: NonNullable<ReturnType<LegacySource['group']>>): Promise<string | undefined> {
    const filter = { GroupBaseInfoFilter: ['Type', 'Name', 'Owner_Account', 'CreateTime'] };
    const info = (await im.call('get_group_info', { GroupIdList: [g.groupId], ResponseFilter: filter })).GroupInfo[0];
    if (!info || info.ErrorCode !== 0)
      throw new ImError(
        'get_group_info',
        info?.ErrorCode ?? GROUP_NOT_FOUND_CODE,
        info?.ErrorInfo ?? 'no answer for the group',
        'retryable',
      );
    const differs: string[] = [];
    if (info.Type !== g.type) differs.push('type');
    if (g.createTime !== undefined && info.CreateTime !== g.createTime) differs.push('creation time');
    if (g.createTime === undefined && (info.Owner_Account ?? '') !== (g.ownerId ?? '')) differs.push('owner');
    if (g.createTime === undefined && info.Name !== g.name) differs.push('name');
    return differs.length > 0 ? `its ${differs.join(', ')} differ from the bundle's` : undefined;
  }

  /**
   * The old ids of `planned` that IM holds: its messages from the newest back to the first planned
   * send time, matched by Random (no two of a group's imported messages share one). A message newer
   * than some of them may be our own earlier attempt's (its answer lost) or a live post: only IM's
   * history tells, and a live post must not make the history it overtook count as done.
   */
  async function heldByIm(
    groupId: string,
    planned: Array<{ m: { oldId: string }; sendTime: number; random: number }>,
    nextMsgSeq: number,
  ): Promise<Set<string>> {
    const oldIdOf = new Map(planned.map((p) => [p.random, p.m.oldId]));
    const since = planned[0].sendTime;
    const held = new Set<string>();
    const perCall = limits.group_msg_get_simple.maxItems;
    for (let seq = nextMsgSeq - 1; seq >= 1; seq -= perCall) {
      const res = await im.call('group_msg_get_simple', { GroupId: groupId, ReqMsgSeq: seq, ReqMsgNumber: perCall });
      const page = res.RspMsgList ?? [];
      for (const msg of page) {
        const oldId = msg.MsgRandom === undefined ? undefined : oldIdOf.get(msg.MsgRandom);
        if (oldId !== undefined && msg.MsgTimeStamp >= since) held.add(oldId);
      }
      heartbeat();
      if (page.length === 0 || Math.min(...page.map((m) => m.MsgTimeStamp)) < since) break;
    }
    return held;
  }

  /** Items of a group IM refused as a whole (GroupStop), in the failure report with its reason. */
  function reportStopped(migrationId: string, entity: Entity, itemIds: string[], stop: GroupStop): void {
    for (const id of itemIds) fail(migrationId, entity, id, stop.api, stop.code, stop.errorClass, stop.reason);
  }

  /**
   * A page's body, unless the run was paused or cancelled when the page left its queue: then it
   * makes no call and goes back to its workflow, which runs it again after resume. The children's
   * pause signals cannot reach the pages already waiting in a rate-limited queue; this does.
   */
  const asPage = (
    migrationId: string,
    after: Cursor | undefined,
    body: (progress: Progress) => Promise<PageOutcome>,
  ): Promise<PageOutcome> =>
    ['running', 'completed'].includes(runStates.runState(migrationId))
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
    const once = async (api: ImApiName, call: () => Promise<unknown>) => (await perItem(migrationId, entity, itemId, api, call)).done === 1;
    /** A batch API's call with this one item: refused whole for good, it is this item's failure. */
    const batchOfOne = async (api: ImApiName, call: () => Promise<ItemOutcome[]>) => {
      try {
        return recordOutcomes(migrationId, entity, api, await call(), () => itemId).done === 1;
      } catch (err) {
        if (refusedCall(migrationId, entity, [itemId], err)) return false;
        throw err;
      }
    };
    switch (entity) {
      case 'account':
        return (
          recordOutcomes(migrationId, 'account', 'multiaccount_import', await im.multiaccountImport({ Accounts: [itemId] })).done === 1
        );
      case 'profile': {
        const items = source.profile(itemId)?.items ?? [];
        return items.length === 0 || once('portrait_set', () => im.call('portrait_set', { From_Account: itemId, ProfileItem: items }));
      }
      case 'friend': {
        const [owner, friend] = splitPairItemId(itemId);
        const f = source.friend(owner, friend);
        if (!f) return true;
        const item = {
          To_Account: f.toUserId,
          Remark: f.remark,
          GroupName: f.groupNames,
          AddSource: f.addSource,
          AddWording: f.addWording,
          AddTime: f.addTime,
          CustomItem: f.customItems,
        };
        return batchOfOne('friend_import', () => im.friendImport({ From_Account: owner, AddFriendItem: [item] }));
      }
      case 'message': {
        const m = source.message(itemId);
        if (!m) return true;
        const { msgSeq, msgRandom } = importedMessageIdentity(m);
        return once('importmsg', () =>
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
      }
      case 'readMark': {
        const r = source.readMark(...splitPairItemId(itemId));
        return (
          !r ||
          once('admin_set_msg_read', () =>
            im.call('admin_set_msg_read', { Report_Account: r.reader, Peer_Account: r.peer, MsgReadTime: r.readUpTo }),
          )
        );
      }
      case 'member': {
        const [groupId, userId] = splitPairItemId(itemId);
        const m = source.groupMember(groupId, userId);
        if (!m) return true;
        const member = { Member_Account: m.userId, Role: m.role === 'Admin' ? ('Admin' as const) : undefined, JoinTime: m.joinTime };
        return batchOfOne('import_group_member', () => im.importGroupMember({ GroupId: groupId, MemberList: [member] }));
      }
      case 'groupMessage': {
        // IM takes only messages newer than the group's newest: an older one can only fail again.
        const m = source.groupMessage(itemId);
        if (!m) return true;
        const message = { From_Account: m.from, SendTime: m.time, Random: importedMessageIdentity(m).random, MsgBody: m.body };
        return batchOfOne('import_group_msg', () => im.importGroupMsg({ GroupId: m.groupId, MsgList: [message] }));
      }
      case 'unreadCount': {
        const [groupId, userId] = splitPairItemId(itemId);
        const m = source.groupMember(groupId, userId);
        return (
          !m ||
          once('set_unread_msg_num', () =>
            im.call('set_unread_msg_num', { GroupId: groupId, Member_Account: userId, UnreadMsgNum: m.unreadCount ?? 0 }),
          )
        );
      }
    }
  }

  /** A failure-report item that went through on retry, in the record of what IM accepted. */
  function markRetriedAccepted(entity: Exclude<Entity, 'group'>, itemId: string): void {
    if (entity === 'groupMessage') {
      const m = source.groupMessage(itemId);
      if (m) source.markGroupMessagesAccepted(m.groupId, [itemId]);
    } else if (entity === 'friend' || entity === 'readMark' || entity === 'member' || entity === 'unreadCount') {
      source.markAccepted(entity, [splitPairItemId(itemId)]);
    } else source.markAccepted(entity, [itemId]);
  }

  return {
    importAccountBatch: ({ migrationId, after, limit }) =>
      asActivity(async () => {
        const page = source.accounts({ after: after ?? undefined, limit });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const outcomes = deps.accountListShape
          ? await im.multiaccountImport({ AccountList: page.items.map((a) => ({ UserID: a.userId, Nick: a.nick, FaceUrl: a.faceUrl })) })
          : await im.multiaccountImport({ Accounts: page.items.map((a) => a.userId) });
        const counts = recordOutcomes(migrationId, 'account', 'multiaccount_import', outcomes);
        source.markAccepted('account', acceptedIds(outcomes));
        return counts;
      }),

    importProfile: ({ migrationId, userId, skipNickAndFace }) =>
      asActivity(async () => {
        if (source.isAccepted('profile', userId)) return { done: 0, failed: 0 };
        const profile = source.profile(userId);
        const skip = new Set<string>(skipNickAndFace ? [PROFILE_TAGS.nick.tag, PROFILE_TAGS.faceUrl.tag] : []);
        const items = (profile?.items ?? []).filter((i) => !skip.has(i.Tag));
        const counts =
          items.length === 0
            ? { done: 1, failed: 0 }
            : await perItem(migrationId, 'profile', userId, 'portrait_set', () =>
                im.call('portrait_set', { From_Account: userId, ProfileItem: items }),
              );
        if (counts.done === 1) source.markAccepted('profile', [userId]);
        return counts;
      }),

    importFriendsPage: ({ migrationId, userId, after, limit }) =>
      asPage(migrationId, after, async (progress) => {
        const page = source.friends(userId, { after, limit: Math.min(limit, limits.friend_import.maxItems) });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        // A retried attempt sends only the friends the earlier one was told to send again.
        const earlier = activityInfo().heartbeatDetails as FriendsProgress | undefined;
        const items = earlier ? page.items.filter((f) => earlier.pending.includes(f.toUserId)) : page.items;
        const AddFriendItem = items.map((f) => ({
          To_Account: f.toUserId,
          Remark: f.remark,
          GroupName: f.groupNames,
          AddSource: f.addSource,
          AddWording: f.addWording,
          AddTime: f.addTime,
          CustomItem: f.customItems,
        }));
        const itemId = (friend: string) => pairItemId(userId, friend);
        let settled: ReturnType<typeof settleOutcomes>;
        try {
          const outcomes = await im.friendImport({ From_Account: userId, AddFriendItem });
          settled = settleOutcomes(migrationId, 'friend', 'friend_import', outcomes, (o) => itemId(o.id));
          source.markAccepted(
            'friend',
            acceptedIds(outcomes).map((friend) => [userId, friend] as const),
          );
        } catch (err) {
          // Refused whole (the owner is missing, say): every friend of this call fails for the same reason.
          const refused = refusedCall(
            migrationId,
            'friend',
            items.map((f) => itemId(f.toUserId)),
            err,
          );
          if (!refused) throw err;
          settled = { done: 0, failed: refused.failed, retry: [] };
        }
        const counts = { done: settled.done + (earlier?.done ?? 0), failed: settled.failed + (earlier?.failed ?? 0) };
        if (settled.retry.length > 0) {
          // Sent again by Temporal's retry, alone: friends already accepted are not written twice.
          progress({ pending: settled.retry.map((o) => o.id), ...counts } satisfies FriendsProgress);
          throw retryLater('friend_import', settled.retry);
        }
        return { ...counts, next: page.next };
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
              // The live sync may have written it since the page was read (the export/live boundary).
              if (finished.has(m.oldId) || source.isAccepted('message', m.oldId)) {
                counts.done++;
                continue;
              }
              // MsgSeq orders the conversation's messages of one second as the bundle does.
              const { msgSeq, msgRandom } = importedMessageIdentity(m);
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
              if (c.done === 1) source.markAccepted('message', [m.oldId]);
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
        const counts = await sequentially(page.items, progress, async (r) => {
          const itemId = pairItemId(r.reader, r.peer);
          // The last stage takes the conversations without messages left to import; one whose
          // messages this run imported had its marks sent after them, and a mark IM refused then
          // is in the report already (retry-failed sends it again), not to be counted twice.
          if (scope === 'withoutMessages' && failures.isFailed(migrationId, 'readMark', itemId)) return { done: 0, failed: 0 };
          const c = await perItem(migrationId, 'readMark', itemId, 'admin_set_msg_read', () =>
            im.call('admin_set_msg_read', { Report_Account: r.reader, Peer_Account: r.peer, MsgReadTime: r.readUpTo }),
          );
          if (c.done === 1) source.markAccepted('readMark', [[r.reader, r.peer]]);
          return c;
        });
        return { ...counts, next: page.next };
      }),

    importGroup: ({ migrationId, groupId }) =>
      asActivity(async (): Promise<{ outcome: GroupImportOutcome; groupStop?: GroupStop }> => {
        // Nothing of a group that failed here goes in: the workflow reports its members and history with this reason.
        const refused = (outcome: GroupImportOutcome, groupStop: GroupStop) => {
          fail(migrationId, 'group', groupId, groupStop.api, groupStop.code, groupStop.errorClass, groupStop.reason);
          return { outcome, groupStop };
        };
        const g = source.group(groupId);
        if (!g)
          return refused('failed', {
            api: 'import_group',
            code: GROUP_NOT_FOUND_CODE,
            errorClass: 'missing-reference',
            reason: 'group is not in the staging store',
          });
        if (NON_IMPORTABLE_GROUP_TYPES.includes(g.type as GroupType)) {
          return refused('unsupported', {
            api: 'import_group',
            code: 10007,
            errorClass: 'unsupported',
            reason: `${g.type} groups cannot be imported into IM (create them live instead)`,
          });
        }
        // IM took it in an earlier run: import_group would only answer that the id is taken.
        if (source.isAccepted('group', groupId)) return { outcome: 'existed' };
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
          source.markAccepted('group', [groupId]);
          return { outcome: 'created' };
        } catch (err) {
          if (!(err instanceof ImError) || (err.errorClass !== 'already-exists' && !isItemFailure(err.errorClass))) throw err;
          const stop = { api: err.api, code: err.code, errorClass: err.errorClass, reason: err.info };
          if (err.errorClass !== 'already-exists') return refused('failed', stop);
          // Our own earlier import (a retry after a lost answer, or a re-run) holds the id, or someone else's group does.
          const foreign = await foreignGroup(g);
          if (foreign)
            return refused('failed', {
              ...stop,
              reason: `GroupId is used by another group in IM (${foreign}): nothing is written into it`,
            });
          failures.clearFailure(migrationId, 'group', groupId);
          source.markAccepted('group', [groupId]);
          return { outcome: 'existed' };
        }
      }),

    holdGroupHistory: ({ migrationId, groupId }) =>
      asActivity(async () => {
        if (handoff !== 'mute') return { muted: false };
        let hold = source.groupHistoryHold(groupId);
        // The group's own setting is recorded before it is changed, once per hold: a retry after the
        // mute must not take the mute for the group's own setting.
        if (!hold || hold.restoredAt !== undefined) {
          const info = (
            await im.call('get_group_info', { GroupIdList: [groupId], ResponseFilter: { GroupBaseInfoFilter: ['MuteAllMember'] } })
          ).GroupInfo[0];
          // A group IM refuses is reported by the stages that follow, with IM's reason.
          if (info && GROUP_UNUSABLE_CODES.includes(info.ErrorCode)) return { muted: false };
          if (!info || info.ErrorCode !== 0)
            throw new ImError(
              'get_group_info',
              info?.ErrorCode ?? GROUP_NOT_FOUND_CODE,
              info?.ErrorInfo ?? 'no answer for the group',
              'retryable',
            );
          source.recordGroupHistoryHold({ groupId, migrationId, originalMute: info.MuteAllMember ?? info.ShutUpAllMember ?? 'Off' });
          hold = source.groupHistoryHold(groupId)!;
        }
        if (hold.originalMute !== 'On') await im.call('modify_group_base_info', { GroupId: groupId, MuteAllMember: 'On' });
        source.markGroupHistoryHold(groupId, 'muted');
        return { muted: true };
      }),

    releaseGroupHistory: ({ groupId }) =>
      asActivity(async () => {
        const hold = source.groupHistoryHold(groupId);
        if (!hold || hold.restoredAt !== undefined) return { restored: false };
        if (hold.originalMute !== 'On') {
          try {
            await im.call('modify_group_base_info', { GroupId: groupId, MuteAllMember: 'Off' });
          } catch (err) {
            // A group that is gone or no longer ours has nothing to restore.
            if (!(err instanceof ImError) || !GROUP_UNUSABLE_CODES.includes(err.code)) throw err;
          }
        }
        source.markGroupHistoryHold(groupId, 'restored');
        return { restored: true };
      }),

    importGroupMembersPage: ({ migrationId, groupId, after, limit }) =>
      asPage(migrationId, after, async () => {
        const page = source.groupMembers(groupId, { after, limit: Math.min(limit, limits.import_group_member.maxItems) });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const itemId = (userId: string) => pairItemId(groupId, userId);
        try {
          const outcomes = await im.importGroupMember({
            GroupId: groupId,
            // Unread counts are set after the group's messages: importing messages resets them.
            MemberList: page.items.map((m) => ({
              Member_Account: m.userId,
              Role: m.role === 'Admin' ? ('Admin' as const) : undefined,
              JoinTime: m.joinTime,
            })),
          });
          // Members IM must be asked for again are asked with the whole page: a member already in comes back as Result 2.
          const counts = recordOutcomes(migrationId, 'member', 'import_group_member', outcomes, (o) => itemId(o.id));
          // A group retried whole (retry-failed) takes its reported members here: they leave the report.
          for (const o of outcomes) if (o.ok) failures.clearFailure(migrationId, 'member', itemId(o.id));
          source.markAccepted(
            'member',
            acceptedIds(outcomes).map((userId) => [groupId, userId] as const),
          );
          return { ...counts, next: page.next };
        } catch (err) {
          const refused = refusedCall(
            migrationId,
            'member',
            page.items.map((m) => itemId(m.userId)),
            err,
          );
          if (!refused) throw err;
          return { ...refused, next: page.next };
        }
      }),

    importGroupMessagesPage: ({ migrationId, groupId, after, calls, perCall: asked }) =>
      asPage(migrationId, after, async (progress) => {
        const perCall = Math.min(asked ?? Infinity, limits.import_group_msg.maxItems);
        const cursor = GroupHistoryCursor.parse(after);
        const group = source.group(groupId);
        const page = source.groupMessages(groupId, { after: cursor.after, limit: calls * perCall });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        // IM needs strictly increasing times after the group's creation: messages sharing a second
        // (or older than the group) move to the next free second, in the bundle's order (the store's).
        let last = Math.max(cursor.lastSendTime, group?.createTime ?? 0);
        const planned = page.items.map((m) => {
          last = Math.max(m.time, last + 1);
          return { m, sendTime: last, random: importedMessageIdentity(m).random };
        });
        const next = page.next === undefined ? undefined : GroupHistoryCursor.format({ after: page.next, lastSendTime: last });
        const info = (
          await im.call('get_group_info', {
            GroupIdList: [groupId],
            ResponseFilter: { GroupBaseInfoFilter: ['LastMsgTime', 'NextMsgSeq'] },
          })
        ).GroupInfo[0];
        if (info && info.ErrorCode !== 0) {
          const err = new ImError('get_group_info', info.ErrorCode, info.ErrorInfo || imErrorInfo(info.ErrorCode));
          if (!GROUP_UNUSABLE_CODES.includes(err.code)) throw err;
          return {
            ...refusedCall(
              migrationId,
              'groupMessage',
              planned.map((p) => p.m.oldId),
              err,
            )!,
            next,
          };
        }
        // IM's newest message covers these: what IM holds (an earlier attempt whose answer was lost, a
        // re-run) is done; the rest can never go in (a live post overtook them, or an earlier attempt
        // reported them) and is in the failure report, never counted as done.
        const imLast = info?.LastMsgTime ?? 0;
        const covered = planned.filter((p) => p.sendTime <= imLast);
        const held = covered.length > 0 ? await heldByIm(groupId, planned, info?.NextMsgSeq ?? 1) : new Set<string>();
        const counts = { done: 0, failed: 0 };
        for (const p of covered) {
          if (held.has(p.m.oldId)) {
            failures.clearFailure(migrationId, 'groupMessage', p.m.oldId);
            counts.done++;
            continue;
          }
          if (!failures.isFailed(migrationId, 'groupMessage', p.m.oldId))
            fail(migrationId, 'groupMessage', p.m.oldId, 'import_group_msg', 10004, 'invalid', OLDER_THAN_NEWEST_REASON);
          counts.failed++;
        }
        const pending = planned.filter((p) => p.sendTime > imLast);
        const now = nowS();
        for (let i = 0; i < pending.length; i += perCall) {
          const chunk = pending.slice(i, i + perCall);
          const tooNew = chunk.filter((p) => p.sendTime >= now);
          for (const p of tooNew)
            fail(
              migrationId,
              'groupMessage',
              p.m.oldId,
              'import_group_msg',
              10004,
              'invalid',
              'send time would not be before now after ordering',
            );
          counts.failed += tooNew.length;
          const sendable = chunk.filter((p) => p.sendTime < now);
          if (sendable.length === 0) continue;
          let outcomes: ItemOutcome[];
          try {
            outcomes = await im.importGroupMsg({
              GroupId: groupId,
              MsgList: sendable.map((p) => ({ From_Account: p.m.from, SendTime: p.sendTime, Random: p.random, MsgBody: p.m.body })),
            });
          } catch (err) {
            const refused = refusedCall(
              migrationId,
              'groupMessage',
              sendable.map((p) => p.m.oldId),
              err,
            );
            if (!refused) throw err;
            counts.failed += refused.failed;
            if (!refused.groupStop) continue;
            // Nothing more of the group goes in: the rest of this page is reported with it.
            const rest = pending.slice(i + perCall).map((p) => p.m.oldId);
            reportStopped(migrationId, 'groupMessage', rest, refused.groupStop);
            return { done: counts.done, failed: counts.failed + rest.length, next, groupStop: refused.groupStop };
          }
          const answered = finalBeforeTaken(outcomes.map((o, j) => ({ ...o, id: sendable[j].m.oldId })));
          const settled = settleOutcomes(migrationId, 'groupMessage', 'import_group_msg', answered);
          // A group retried whole (retry-failed) takes its reported messages here: they leave the report.
          for (const o of answered) if (o.ok) failures.clearFailure(migrationId, 'groupMessage', o.id);
          counts.done += settled.done;
          counts.failed += settled.failed;
          // The retry resumes after IM's newest message (get_group_info above): nothing taken is sent twice.
          if (settled.retry.length > 0) throw retryLater('import_group_msg', settled.retry);
          progress();
        }
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
        let groupStop: GroupStop | undefined;
        const counts = await sequentially(page.items, progress, async (m) => {
          const itemId = pairItemId(groupId, m.userId);
          if (groupStop) {
            reportStopped(migrationId, 'unreadCount', [itemId], groupStop);
            return { done: 0, failed: 1 };
          }
          try {
            await im.call('set_unread_msg_num', { GroupId: groupId, Member_Account: m.userId, UnreadMsgNum: m.unreadCount ?? 0 });
            failures.clearFailure(migrationId, 'unreadCount', itemId);
            source.markAccepted('unreadCount', [[groupId, m.userId]]);
            return { done: 1, failed: 0 };
          } catch (err) {
            const refused = refusedCall(migrationId, 'unreadCount', [itemId], err);
            if (!refused) throw err;
            groupStop = refused.groupStop;
            return refused;
          }
        });
        return { ...counts, next: page.next, groupStop };
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
          if (ok) markRetriedAccepted(entity, itemId);
          total.done += ok ? 1 : 0;
          total.failed += ok ? 0 : 1;
          heartbeat();
        }
        return total;
      }),
  };
}

/** The ids of the items IM took. */
function acceptedIds(outcomes: ItemOutcome[]): string[] {
  return outcomes.filter((o) => o.ok).map((o) => o.id);
}

/**
 * A group message IM answered retryably but followed by one it took can never go in (IM takes only
 * messages newer than the group's newest): it is final, and only those after the last taken retry.
 */
function finalBeforeTaken(outcomes: ItemOutcome[]): ItemOutcome[] {
  const lastTaken = outcomes.map((o) => o.ok).lastIndexOf(true);
  return outcomes.map((o, j) =>
    !o.ok && j < lastTaken && isRetryableClass(o.errorClass ?? 'invalid')
      ? {
          ...o,
          errorClass: 'invalid',
          reason: `${o.reason ?? 'retryable answer'}; IM took a later message of the group, so this one cannot go in`,
        }
      : o,
  );
}

/** Items IM answered with a retryable or rate-limited code, as the error that has Temporal retry the activity. */
function retryLater(api: ImApiName, retry: ItemOutcome[]): ImError {
  const first = retry[0];
  return new ImError(api, first.code, `${retry.length} item(s) to send again: ${first.reason ?? 'retryable answer'}`, first.errorClass);
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
  profiles: 'profiles',
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
      // What is left: a later run writes only what IM does not hold yet (start --full forgot it all).
      const totals = source.pendingTotals();
      const result = emptyTotals();
      for (const phase of phases) {
        const key = TOTAL_OF[phase];
        if (key) result[phase] = totals[key];
      }
      return result;
    },
    async forgetImported() {
      source.forgetImported();
    },
    async planAccountBatches({ after, batchSize, batches }) {
      const starts: Array<string | null> = [];
      let cursor = after;
      for (let i = 0; i < batches; i++) {
        // The batches of importAccountBatch, which takes only the accounts IM has not accepted.
        const page = source.pendingAccountIds({ after: cursor, limit: batchSize });
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
    async runState({ migrationId }) {
      return runStates.runState(migrationId);
    },
    async markGroupHistoryImported({ groupId }) {
      source.markGroupHistoryImported(groupId);
    },
    async reportStoppedGroupItems({ migrationId, groupId, stage, after, limit, stop }) {
      const report = (entity: Entity, itemIds: string[]) => {
        for (const id of itemIds)
          failures.record({
            migrationId,
            entity,
            itemId: id,
            api: stop.api,
            code: stop.code,
            errorClass: stop.errorClass,
            reason: stop.reason,
          });
        return { done: 0, failed: itemIds.length };
      };
      switch (stage) {
        case 'members': {
          const page = source.groupMembers(groupId, { after, limit });
          return {
            ...report(
              'member',
              page.items.map((m) => pairItemId(groupId, m.userId)),
            ),
            next: page.next,
          };
        }
        case 'messages': {
          // The cursor of importGroupMessagesPage, whose stage this takes over.
          const cursor = GroupHistoryCursor.parse(after);
          const page = source.groupMessages(groupId, { after: cursor.after, limit });
          const next =
            page.next === undefined ? undefined : GroupHistoryCursor.format({ after: page.next, lastSendTime: cursor.lastSendTime });
          return {
            ...report(
              'groupMessage',
              page.items.map((m) => m.oldId),
            ),
            next,
          };
        }
        case 'unread': {
          const page = source.groupUnreadCounts(groupId, { after, limit });
          return {
            ...report(
              'unreadCount',
              page.items.map((m) => pairItemId(groupId, m.userId)),
            ),
            next: page.next,
          };
        }
      }
    },
    async listFailures({ migrationId, after, limit }) {
      const page = failures.failures(migrationId, { after, limit });
      return { items: page.items.map((f) => ({ entity: f.entity, itemId: f.itemId })), next: page.next };
    },
  };
}
