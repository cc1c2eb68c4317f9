/**
 * Verification: what the staging store says IM should hold, against what IM's own read APIs return
 * (account_check, portrait_get, friend_get, admin_getroammsg, get_group_info, get_group_member_info,
 * group_msg_get_simple), so the same check works against the real IM. Each activity makes one call
 * of one read API, on that API's rate-limited queue (workflows/verify.ts); a rate-limit answer
 * retries like the import's.
 *
 * It compares content, not counts: a message's sender, receiver or group, time, order and a hash
 * of its body; profile fields; friends; members with role and join time; unread counts. Pages of a
 * conversation, friend list or group are kept in the ledger until the last one, then compared as a
 * whole. Every difference is stored with its scope and item id (legacy/verify-ledger.ts); items
 * of the failure report are expected to be missing and are counted apart.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { ImClient } from '../im/client';
import { ImError } from '../im/errors';
import { NON_IMPORTABLE_GROUP_TYPES, UNREAD_COUNT_GROUP_TYPES, type GroupType } from '../im/messages';
import { importedMessageIdentity, liveGroupRandom, messageRandom } from '../legacy/id-mapping';
import { SyncJournal } from '../legacy/sync-journal';
import { syncEntityWorkflowId, type SyncEntity } from '../workflows/sync-api';
import type { StagingStore } from '../legacy/store';
import type { Difference, VerifyLedger } from '../legacy/verify-ledger';
import { emptyVerifyCounts, type VerifyCounts, type VerifyRun } from '../workflows/verify-api';
import { inSample } from '../workflows/sampling';
import type { VerifyActivities, VerifyStoreActivities } from './contracts';
import { asActivity, isItemFailure } from './im-failures';
import { planPageStarts } from './import/store';
import { pairItemId } from './item-ids';

/** A body's fingerprint: SHA-256 of its JSON with object keys sorted (IM may reorder fields). */
export function bodyHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A read whose answer says the item is not there for good (an unknown account or group) is an
 * empty answer: everything the store expects of it is then missing.
 */
async function readOrAbsent<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ImError && isItemFailure(err.errorClass)) return undefined;
    throw err;
  }
}

/** Messages and the like, compared as a whole once every page is in. */
interface SeenMessage {
  from: string;
  to?: string;
  time: number;
  /** IM's order: (time, MsgSeq) for one-to-one, MsgSeq for groups. */
  order: [number, number];
  hash: string;
}
interface ExpectedMessage {
  oldId: string;
  key: string;
  from: string;
  to?: string;
  /** The earliest and latest time IM may hold (group messages sharing a second move to the next free one). */
  time: [number, number];
  hash: string;
}

/**
 * Compares a whole conversation or group history: each expected message must be in IM once, with
 * its sender, receiver, time and body, in the store's order; IM's messages that match nothing are
 * extra. An out-of-order message is one IM places before a message the store has earlier.
 */
function compareMessages(
  kind: 'messages' | 'groupMessages',
  scope: string,
  expected: ExpectedMessage[],
  seen: Map<string, SeenMessage>,
  reported: Set<string>,
  live: Set<string>,
): { counts: VerifyCounts; differences: Difference[] } {
  const counts = emptyVerifyCounts();
  const differences: Difference[] = [];
  const used = new Set<string>();
  let latest: [number, number] | undefined;
  for (const m of expected) {
    if (reported.has(m.oldId)) {
      counts.reported++;
      used.add(m.key);
      continue;
    }
    counts.expected++;
    const got = seen.get(m.key);
    if (!got) {
      differences.push({ kind, scope, itemId: m.oldId, problem: 'missing', detail: '' });
      continue;
    }
    used.add(m.key);
    const changed: string[] = [];
    if (got.from !== m.from) changed.push(`sender ${got.from}, expected ${m.from}`);
    if (m.to !== undefined && got.to !== m.to) changed.push(`receiver ${got.to}, expected ${m.to}`);
    if (got.time < m.time[0] || got.time > m.time[1])
      changed.push(`time ${got.time}, expected ${m.time[0] === m.time[1] ? m.time[0] : `${m.time[0]}..${m.time[1]}`}`);
    if (got.hash !== m.hash) changed.push('body differs');
    if (changed.length > 0) differences.push({ kind, scope, itemId: m.oldId, problem: 'changed', detail: changed.join('; ') });
    const outOfOrder = latest !== undefined && (got.order[0] < latest[0] || (got.order[0] === latest[0] && got.order[1] < latest[1]));
    if (outOfOrder)
      differences.push({
        kind,
        scope,
        itemId: m.oldId,
        problem: 'out-of-order',
        detail: `IM places it before an earlier message of the store`,
      });
    else latest = got.order;
    if (changed.length === 0 && !outOfOrder) counts.matched++;
  }
  for (const [key, got] of seen) {
    if (used.has(key)) continue;
    if (live.has(key)) counts.live++;
    else differences.push({ kind, scope, itemId: `im:${key}`, problem: 'extra', detail: `from ${got.from} at ${got.time}` });
  }
  counts.differences = differences.length;
  return { counts, differences };
}

export function createVerifyActivities(deps: {
  im: ImClient;
  store: StagingStore;
  ledger: VerifyLedger;
  nowS?: () => number;
}): VerifyActivities & VerifyStoreActivities {
  const { im, store, ledger } = deps;
  const nowS = deps.nowS ?? (() => Math.floor(Date.now() / 1000));
  const failed = (migrationId: string, entity: string) => store.failedItemIds(migrationId, entity);

  const journal = new SyncJournal(store.db);
  /**
   * The keys (as verification reads IM's answers) of the messages the live sync saw for an entity:
   * App 1.0 messages it wrote to IM (their MsgSeq and MsgRandom, or group Random, follow from the
   * event) and App 2.0 messages it forwarded (the callback names them). Not history: counted apart.
   */
  function liveKeys(prefix: string, entity: SyncEntity): Set<string> {
    const keys = new Set<string>();
    for (const e of journal.messageEventsOf(syncEntityWorkflowId(prefix, entity))) {
      const p = e.payload as Record<string, unknown> | null;
      if (p === null) continue;
      if (e.direction === 'oldToNew') {
        const id = String(p.messageId);
        keys.add(entity.kind === 'conversation' ? `${e.receivedAtMs % 2 ** 32}|${messageRandom(id)}` : String(liveGroupRandom(id)));
      } else keys.add(entity.kind === 'conversation' ? `${String(p.MsgSeq)}|${String(p.MsgRandom)}` : String(p.Random));
    }
    return keys;
  }

  /** How many messages the live sync put into (or saw in) an entity in IM. */
  function liveMessagesIn(prefix: string, entity: SyncEntity): number {
    return journal
      .messageEventsOf(syncEntityWorkflowId(prefix, entity))
      .filter((e) => e.direction === 'newToOld' || e.outcome === 'applied').length;
  }

  /** A page of accounts in the sample (the page's cursor follows every account, sampled or not). */
  function accountPage(run: VerifyRun, after: string | undefined, limit: number): { ids: string[]; next?: string } {
    const page = store.accountIds({ after, limit });
    return { ids: page.items.filter((id) => inSample(id, run.sample)), next: page.next };
  }

  return {
    async planAccountPages({ after, pageSize, pages }) {
      // Every account: verification compares what IM accepted too (the import's plans skip that).
      return planPageStarts((page) => store.accountIds(page), after, pageSize, pages);
    },

    async listOwnedConversations({ userId, after, limit }) {
      const page = store.ownedConversationPeers(userId, { after, limit });
      return { ids: page.items, next: page.next };
    },

    async startVerification({ verifyId, migrationId }) {
      // Final: retrying cannot make the migration have run.
      if (!store.hasRunState(migrationId))
        throw ApplicationFailure.nonRetryable(
          `migration ${migrationId} never ran against this store: nothing to verify (check the id and TIM_STORE)`,
          'invalid',
        );
      ledger.clear(verifyId);
    },

    async countDifferences({ verifyId }) {
      return ledger.countDifferences(verifyId);
    },

    verifyAccountsPage: (input) =>
      asActivity(async () => {
        const { ids, next } = accountPage(input, input.after, input.limit);
        const counts = emptyVerifyCounts();
        const failedAccounts = failed(input.migrationId, 'account');
        const wanted = ids.filter((id) => !failedAccounts.has(id));
        counts.reported = ids.length - wanted.length;
        counts.expected = wanted.length;
        if (wanted.length === 0) return { tally: { accounts: counts }, next };
        const imported = await im.accountCheck(wanted);
        const differences: Difference[] = wanted
          .filter((id) => !imported.get(id))
          .map((id) => ({ kind: 'accounts', scope: '', itemId: id, problem: 'missing', detail: '' }));
        ledger.addDifferences(input.verifyId, differences);
        counts.differences = differences.length;
        counts.matched = wanted.length - differences.length;
        return { tally: { accounts: counts }, next };
      }),

    verifyProfilesPage: (input) =>
      asActivity(async () => {
        const { ids, next } = accountPage(input, input.after, input.limit);
        const counts = emptyVerifyCounts();
        const failedIds = new Set([...failed(input.migrationId, 'account'), ...failed(input.migrationId, 'profile')]);
        const wanted = ids.filter((id) => !failedIds.has(id));
        counts.reported = ids.length - wanted.length;
        const expected = new Map(wanted.map((id) => [id, store.profile(id)?.items ?? []]));
        const tags = [...new Set([...expected.values()].flat().map((i) => i.Tag))];
        const withFields = wanted.filter((id) => (expected.get(id) ?? []).length > 0);
        counts.expected = withFields.length;
        if (withFields.length === 0 || tags.length === 0) return { tally: { profiles: counts }, next };
        const got = await im.call('portrait_get', { To_Account: withFields, TagList: tags });
        const answers = new Map(got.UserProfileItem.map((item) => [item.To_Account, item]));
        const differences: Difference[] = [];
        for (const id of withFields) {
          const item = answers.get(id);
          if (!item || item.ResultCode !== 0) {
            differences.push({
              kind: 'profiles',
              scope: '',
              itemId: id,
              problem: 'missing',
              detail: item ? `portrait_get ResultCode ${item.ResultCode}` : '',
            });
            continue;
          }
          const have = new Map(item.ProfileItem.map((p) => [p.Tag, p.Value]));
          const changed = (expected.get(id) ?? []).filter((w) => String(have.get(w.Tag)) !== String(w.Value)).map((w) => w.Tag);
          if (changed.length > 0)
            differences.push({ kind: 'profiles', scope: '', itemId: id, problem: 'changed', detail: `fields ${changed.join(', ')}` });
        }
        ledger.addDifferences(input.verifyId, differences);
        counts.differences = differences.length;
        counts.matched = withFields.length - differences.length;
        return { tally: { profiles: counts }, next };
      }),

    verifyFriendsPage: (input) =>
      asActivity(async () => {
        const { verifyId, userId } = input;
        const scope = `friends:${userId}`;
        const start = input.startIndex ?? 0;
        const res = await readOrAbsent(() =>
          im.call('friend_get', { From_Account: userId, StartIndex: start, StandardSequence: 0, CustomSequence: 0 }),
        );
        if (res) {
          ledger.addSeen(
            verifyId,
            scope,
            res.UserDataItem.map((f) => ({ key: f.To_Account, data: Object.fromEntries(f.ValueItem.map((v) => [v.Tag, v.Value])) })),
          );
          if (res.CompleteFlag === 0 && res.NextStartIndex > start) return { tally: {}, next: res.NextStartIndex };
        }

        const seen = ledger.seen<Record<string, unknown>>(verifyId, scope);
        const reported = failed(input.migrationId, 'friend');
        const counts = emptyVerifyCounts();
        const differences: Difference[] = [];
        for (const f of store.allFriends(userId)) {
          const have = seen.get(f.toUserId);
          seen.delete(f.toUserId);
          if (reported.has(pairItemId(userId, f.toUserId))) {
            counts.reported++;
            continue;
          }
          counts.expected++;
          if (!have) {
            differences.push({ kind: 'friends', scope: userId, itemId: f.toUserId, problem: 'missing', detail: '' });
            continue;
          }
          const changed: string[] = [];
          if (f.remark !== undefined && have.Tag_SNS_IM_Remark !== f.remark) changed.push('remark');
          if (f.addSource !== have.Tag_SNS_IM_AddSource) changed.push('add source');
          if (f.addTime !== undefined && have.Tag_SNS_IM_AddTime !== undefined && Number(have.Tag_SNS_IM_AddTime) !== f.addTime)
            changed.push('add time');
          const groups = Array.isArray(have.Tag_SNS_IM_Group) ? (have.Tag_SNS_IM_Group as string[]) : [];
          if ((f.groupNames ?? []).join('\n') !== groups.join('\n')) changed.push('friend groups');
          if (changed.length > 0)
            differences.push({ kind: 'friends', scope: userId, itemId: f.toUserId, problem: 'changed', detail: changed.join(', ') });
          else counts.matched++;
        }
        for (const extra of seen.keys()) differences.push({ kind: 'friends', scope: userId, itemId: extra, problem: 'extra', detail: '' });
        ledger.settleScope(verifyId, 'friends', userId, differences, scope);
        counts.differences = differences.length;
        return { tally: { friends: counts } };
      }),

    verifyConversationPage: (input) =>
      asActivity(async () => {
        const { verifyId, owner, peer } = input;
        const scope = `c2c:${owner}|${peer}`;
        const maxTime = input.cursor?.maxTime ?? nowS() + 60;
        const res = await readOrAbsent(() =>
          im.call('admin_getroammsg', {
            Operator_Account: owner,
            Peer_Account: peer,
            MaxCnt: 100,
            MinTime: 0,
            MaxTime: maxTime,
            LastMsgKey: input.cursor?.lastMsgKey,
          }),
        );
        ledger.addSeen(
          verifyId,
          scope,
          (res?.MsgList ?? []).map((m) => ({
            key: `${m.MsgSeq}|${m.MsgRandom}`,
            data: {
              from: m.From_Account,
              to: m.To_Account,
              time: m.MsgTimeStamp,
              order: [m.MsgTimeStamp, m.MsgSeq],
              hash: bodyHash(m.MsgBody),
            } satisfies SeenMessage,
          })),
        );
        if (res && res.Complete !== 1 && res.MsgList.length > 0 && res.LastMsgKey !== undefined) {
          return { tally: {}, next: { lastMsgKey: res.LastMsgKey, maxTime: res.LastMsgTime ?? maxTime } };
        }
        let second = -1;
        let earlierInSecond = 0;
        const expected = store.conversationMessages(owner, peer).map((m): ExpectedMessage => {
          earlierInSecond = m.time === second ? earlierInSecond + 1 : 0;
          second = m.time;
          const { msgSeq, msgRandom } = importedMessageIdentity({ oldId: m.oldId, earlierInSecond });
          return { oldId: m.oldId, key: `${msgSeq}|${msgRandom}`, from: m.from, to: m.to, time: [m.time, m.time], hash: bodyHash(m.body) };
        });
        const { counts, differences } = compareMessages(
          'messages',
          `${owner}|${peer}`,
          expected,
          ledger.seen<SeenMessage>(verifyId, scope),
          failed(input.migrationId, 'message'),
          liveKeys(input.taskQueuePrefix, { kind: 'conversation', users: [owner, peer] }),
        );
        ledger.settleScope(verifyId, 'messages', `${owner}|${peer}`, differences, scope);
        return { tally: { messages: counts } };
      }),

    verifyGroupInfo: (input) =>
      asActivity(async () => {
        const { groupId } = input;
        const group = store.group(groupId);
        const counts = emptyVerifyCounts();
        if (!group) throw new Error(`group ${groupId} is not in the store`);
        if (failed(input.migrationId, 'group').has(groupId)) {
          counts.reported = 1;
          return { tally: { groups: counts }, compareContent: false, nextMsgSeq: 0 };
        }
        counts.expected = 1;
        const res = await im.call('get_group_info', { GroupIdList: [groupId] });
        const g = res.GroupInfo.find((i) => i.GroupId === groupId);
        const differences: Difference[] = [];
        if (!g || g.ErrorCode !== 0) {
          differences.push({
            kind: 'groups',
            scope: groupId,
            itemId: groupId,
            problem: 'missing',
            detail: g ? `get_group_info ErrorCode ${g.ErrorCode}` : '',
          });
        } else {
          const changed: string[] = [];
          const same = (field: string, have: unknown, want: unknown) => {
            if (want !== undefined && have !== want) changed.push(field);
          };
          same('type', g.Type, group.type);
          same('name', g.Name, group.name);
          same('owner', g.Owner_Account, group.ownerId);
          same('introduction', g.Introduction, group.introduction);
          same('notification', g.Notification, group.notification);
          same('face URL', g.FaceUrl, group.faceUrl);
          same('creation time', g.CreateTime, group.createTime);
          if (changed.length > 0)
            differences.push({
              kind: 'groups',
              scope: groupId,
              itemId: groupId,
              problem: 'changed',
              detail: `fields ${changed.join(', ')}`,
            });
        }
        ledger.settleScope(input.verifyId, 'groups', groupId, differences);
        counts.differences = differences.length;
        counts.matched = 1 - differences.length;
        const exists = g !== undefined && g.ErrorCode === 0;
        return {
          tally: { groups: counts },
          compareContent: exists && !NON_IMPORTABLE_GROUP_TYPES.includes(group.type as GroupType),
          nextMsgSeq: g?.NextMsgSeq ?? 1,
        };
      }),

    verifyGroupMembersPage: (input) =>
      asActivity(async () => {
        const { verifyId, groupId } = input;
        const scope = `members:${groupId}`;
        const pageSize = 100;
        const offset = input.offset ?? 0;
        const res = await readOrAbsent(() => im.call('get_group_member_info', { GroupId: groupId, Limit: pageSize, Offset: offset }));
        const page = res?.MemberList ?? [];
        ledger.addSeen(
          verifyId,
          scope,
          page.map((m) => ({ key: m.Member_Account, data: { role: m.Role, joinTime: m.JoinTime, readSeq: m.MsgSeq } })),
        );
        if (res && page.length === pageSize && offset + pageSize < res.MemberNum) return { tally: {}, next: offset + pageSize };

        const seen = ledger.seen<{ role?: string; joinTime?: number; readSeq?: number }>(verifyId, scope);
        const reportedMembers = failed(input.migrationId, 'member');
        const reportedUnread = failed(input.migrationId, 'unreadCount');
        const group = store.group(groupId);
        const members = emptyVerifyCounts();
        const unread = emptyVerifyCounts();
        const differences: Difference[] = [];
        const importedMessages =
          store.groupMessageCount(groupId) -
          [...failed(input.migrationId, 'groupMessage')].filter((id) => store.groupMessage(id)?.groupId === groupId).length;
        const lastSeq = input.nextMsgSeq - 1;
        const liveInGroup = liveMessagesIn(input.taskQueuePrefix, { kind: 'group', groupId });
        for (const m of store.allGroupMembers(groupId)) {
          const have = seen.get(m.userId);
          seen.delete(m.userId);
          if (reportedMembers.has(pairItemId(groupId, m.userId))) {
            members.reported++;
            continue;
          }
          members.expected++;
          if (!have) {
            differences.push({ kind: 'members', scope: groupId, itemId: m.userId, problem: 'missing', detail: '' });
            continue;
          }
          const changed: string[] = [];
          if (have.role !== m.role) changed.push(`role ${have.role}, expected ${m.role}`);
          if (m.role !== 'Owner' && m.joinTime !== undefined && have.joinTime !== undefined && have.joinTime !== m.joinTime)
            changed.push(`join time ${have.joinTime}, expected ${m.joinTime}`);
          if (changed.length > 0)
            differences.push({ kind: 'members', scope: groupId, itemId: m.userId, problem: 'changed', detail: changed.join('; ') });
          else members.matched++;

          // IM returns no unread count; it follows from the group's next seq and the member's read seq.
          if ((m.unreadCount ?? 0) === 0 || !UNREAD_COUNT_GROUP_TYPES.includes(group?.type as GroupType)) continue;
          if (reportedUnread.has(pairItemId(groupId, m.userId))) {
            unread.reported++;
            continue;
          }
          unread.expected++;
          // Live messages since the import raise it by one each, for a member who has not read them.
          const want = Math.min(m.unreadCount ?? 0, importedMessages);
          const got = have.readSeq === undefined ? undefined : lastSeq - have.readSeq;
          if (got !== undefined && got >= want && got <= want + liveInGroup) unread.matched++;
          else
            differences.push({
              kind: 'unreadCounts',
              scope: groupId,
              itemId: m.userId,
              problem: 'changed',
              detail: `unread ${got ?? 'unknown'}, expected ${liveInGroup ? `${want}..${want + liveInGroup}` : want}`,
            });
        }
        for (const extra of seen.keys()) differences.push({ kind: 'members', scope: groupId, itemId: extra, problem: 'extra', detail: '' });
        ledger.settleScope(
          verifyId,
          'members',
          groupId,
          differences.filter((d) => d.kind === 'members'),
          scope,
        );
        ledger.settleScope(
          verifyId,
          'unreadCounts',
          groupId,
          differences.filter((d) => d.kind === 'unreadCounts'),
          scope,
        );
        members.differences = differences.filter((d) => d.kind === 'members').length;
        unread.differences = differences.length - members.differences;
        return { tally: { members, unreadCounts: unread } };
      }),

    verifyGroupMessagesPage: (input) =>
      asActivity(async () => {
        const { verifyId, groupId } = input;
        const scope = `history:${groupId}`;
        const res = await readOrAbsent(() =>
          im.call('group_msg_get_simple', { GroupId: groupId, ReqMsgNumber: 20, ReqMsgSeq: input.reqMsgSeq }),
        );
        const page = res?.RspMsgList ?? [];
        const messages = page.filter((m) => m.IsSystemMsg === 0 && m.IsPlaceMsg === 0);
        ledger.addSeen(
          verifyId,
          scope,
          messages.map((m) => ({
            key: String(m.MsgRandom ?? `seq${m.MsgSeq}`),
            data: { from: m.From_Account, time: m.MsgTimeStamp, order: [m.MsgSeq, 0], hash: bodyHash(m.MsgBody) } satisfies SeenMessage,
          })),
        );
        const smallest = Math.min(...page.map((m) => m.MsgSeq));
        if (page.length > 0 && smallest > 1) return { tally: {}, next: smallest - 1 };

        // Messages sharing a second are sent one second apart, in order (activities/import/group-history.ts).
        let last = store.group(groupId)?.createTime ?? 0;
        const expected = store.allGroupMessages(groupId).map((m, earlierInGroup): ExpectedMessage => {
          last = Math.max(m.time, last + 1);
          return {
            oldId: m.oldId,
            key: String(importedMessageIdentity({ earlierInGroup }).random),
            from: m.from,
            time: [m.time, last],
            hash: bodyHash(m.body),
          };
        });
        const { counts, differences } = compareMessages(
          'groupMessages',
          groupId,
          expected,
          ledger.seen<SeenMessage>(verifyId, scope),
          failed(input.migrationId, 'groupMessage'),
          liveKeys(input.taskQueuePrefix, { kind: 'group', groupId }),
        );
        ledger.settleScope(verifyId, 'groupMessages', groupId, differences, scope);
        return { tally: { groupMessages: counts } };
      }),
  };
}
