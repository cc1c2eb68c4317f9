/**
 * Verification after an import: what the staging store says IM should hold, against what IM's own
 * read APIs return (account_check, portrait_get, friend_get, admin_getroammsg, get_group_info,
 * get_group_member_info, group_msg_get_simple), so the same check works against the real IM.
 * Items in the failure report are expected to be missing and are counted apart.
 */
import type { ImClient } from '../im/client';
import { NON_IMPORTABLE_GROUP_TYPES, UNREAD_COUNT_GROUP_TYPES, type GroupType } from '../im/messages';
import { messageIdentity } from '../legacy/id-mapping';
import type { StagingStore } from '../legacy/store';

export interface VerificationRow {
  what: string;
  /** Items the store holds that IM should have (failure-report items excluded). */
  expected: number;
  /** Of those, found in IM as expected. */
  found: number;
  /** Items the failure report lists (expected to be absent). */
  reported: number;
}

async function eachPage<T>(fetch: (after?: string) => { items: T[]; next?: string }, body: (items: T[]) => Promise<void>): Promise<void> {
  let after: string | undefined;
  do {
    const page = fetch(after);
    await body(page.items);
    after = page.next;
  } while (after !== undefined);
}

/**
 * `readMarksAccepted`: the read marks IM answered OK during the run (the migration's result). IM
 * has no API that reads a one-to-one read mark back, so this row is IM's answers, not a read-back.
 */
export async function verifyImport(im: ImClient, store: StagingStore, migrationId: string, run?: { readMarksAccepted: number }): Promise<VerificationRow[]> {
  const failed = (entity: string) => store.failedItemIds(migrationId, entity);
  const row = (what: string): VerificationRow => ({ what, expected: 0, found: 0, reported: 0 });
  const accounts = row('Accounts');
  const profiles = row('Profiles');
  const friends = row('Friends');
  const messages = row('One-to-one messages');
  const groups = row('Groups');
  const members = row('Group members');
  const groupMessages = row('Group messages');
  const unread = row('Member unread counts');

  const failedAccounts = failed('account');
  const failedProfiles = failed('profile');
  await eachPage(
    (after) => store.accountIds({ after, limit: 100 }),
    async (ids) => {
      const imported = await im.accountCheck(ids);
      const wanted = ids.filter((id) => !failedAccounts.has(id));
      accounts.reported += ids.length - wanted.length;
      accounts.expected += wanted.length;
      accounts.found += wanted.filter((id) => imported.get(id)).length;

      const profileIds = wanted.filter((id) => !failedProfiles.has(id));
      profiles.reported += wanted.length - profileIds.length;
      const expectedProfiles = new Map(profileIds.map((id) => [id, store.profile(id)?.items ?? []]));
      const tags = [...new Set([...expectedProfiles.values()].flat().map((i) => i.Tag))];
      profiles.expected += profileIds.length;
      if (profileIds.length === 0 || tags.length === 0) {
        profiles.found += profileIds.length;
        return;
      }
      const got = await im.call('portrait_get', { To_Account: profileIds, TagList: tags });
      for (const item of got.UserProfileItem) {
        const want = expectedProfiles.get(item.To_Account) ?? [];
        const have = new Map(item.ProfileItem.map((p) => [p.Tag, p.Value]));
        if (item.ResultCode === 0 && want.every((w) => String(have.get(w.Tag)) === String(w.Value))) profiles.found++;
      }
    },
  );

  const failedFriends = failed('friend');
  await eachPage(
    (after) => store.accountIds({ after, limit: 100 }),
    async (ids) => {
      for (const owner of ids) {
        const want = store.friendIds(owner).filter((f) => !failedFriends.has(`${owner}>${f}`));
        friends.reported += store.friendIds(owner).length - want.length;
        if (want.length === 0 || failedAccounts.has(owner)) continue;
        friends.expected += want.length;
        const have = new Set((await im.friendGetAll(owner)).map((f) => f.To_Account));
        friends.found += want.filter((f) => have.has(f)).length;
      }
    },
  );

  const failedMessages = failed('message');
  await eachPage(
    (after) => store.conversations({ after, limit: 200 }),
    async (conversations) => {
      for (const c of conversations) {
        const ids = store.conversationMessageIds(c.owner, c.peer);
        const want = ids.filter((id) => !failedMessages.has(id));
        messages.reported += ids.length - want.length;
        messages.expected += want.length;
        if (want.length === 0) continue;
        const have = new Set((await im.roamingMessagesAll(c.owner, c.peer)).map((m) => `${m.MsgSeq}|${m.MsgRandom}`));
        messages.found += want.filter((id) => {
          const { msgSeq, msgRandom } = messageIdentity(id);
          return have.has(`${msgSeq}|${msgRandom}`);
        }).length;
      }
    },
  );

  const failedGroups = failed('group');
  const failedMembers = failed('member');
  const failedGroupMessages = failed('groupMessage');
  const failedUnread = failed('unreadCount');
  await eachPage(
    (after) => store.groupIds({ after, limit: 50 }),
    async (ids) => {
      const wanted = ids.filter((id) => !failedGroups.has(id));
      groups.reported += ids.length - wanted.length;
      groups.expected += wanted.length;
      if (wanted.length === 0) return;
      const info = new Map((await im.call('get_group_info', { GroupIdList: wanted })).GroupInfo.map((g) => [g.GroupId, g]));
      for (const groupId of wanted) {
        const g = info.get(groupId);
        const type = store.group(groupId)?.type as GroupType;
        if (!g || g.ErrorCode !== 0) continue;
        groups.found++;
        if (NON_IMPORTABLE_GROUP_TYPES.includes(type)) continue;

        const expectedMembers = store.allGroupMembers(groupId).filter((m) => !failedMembers.has(`${groupId}>${m.userId}`));
        const imMembers = new Map((await im.groupMembersAll(groupId)).map((m) => [m.Member_Account, m]));
        members.expected += expectedMembers.length;
        members.found += expectedMembers.filter((m) => imMembers.get(m.userId)?.Role === m.role).length;

        const messageCount = store.groupMessageCount(groupId);
        const history = (await im.groupMessagesAll(groupId)).filter((m) => m.IsSystemMsg === 0 && m.IsPlaceMsg === 0);
        groupMessages.expected += messageCount;
        groupMessages.found += Math.min(history.length, messageCount);

        if (!UNREAD_COUNT_GROUP_TYPES.includes(type)) continue;
        // IM returns no unread count; it follows from the group's next seq and the member's read seq.
        const lastSeq = (g.NextMsgSeq ?? 1) - 1;
        for (const m of expectedMembers) {
          if ((m.unreadCount ?? 0) === 0 || failedUnread.has(`${groupId}>${m.userId}`)) continue;
          unread.expected++;
          const readSeq = imMembers.get(m.userId)?.MsgSeq;
          const want = Math.min(m.unreadCount ?? 0, history.length);
          if (readSeq !== undefined && lastSeq - readSeq === want) unread.found++;
        }
      }
    },
  );
  groupMessages.reported = failedGroupMessages.size;
  groupMessages.expected -= failedGroupMessages.size;
  members.reported = failedMembers.size;
  unread.reported = failedUnread.size;
  const rows = [accounts, profiles, friends, messages, groups, members, groupMessages, unread];
  if (run) {
    const failedReadMarks = failed('readMark').size;
    const readMarks: VerificationRow = { what: 'Read marks (IM’s answers)', expected: store.totals().readMarks - failedReadMarks, found: run.readMarksAccepted, reported: failedReadMarks };
    rows.splice(4, 0, readMarks);
  }
  return rows;
}

export function formatVerificationTable(rows: VerificationRow[]): string {
  const lines = [['What', 'Expected', 'Found in IM', 'In failure report', 'Result']];
  for (const r of rows) lines.push([r.what, String(r.expected), String(r.found), String(r.reported), r.found === r.expected ? 'OK' : 'MISMATCH']);
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

export const verificationPassed = (rows: VerificationRow[]): boolean => rows.every((r) => r.found === r.expected);
