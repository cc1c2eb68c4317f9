/** Groups: the group itself, its initial members, and its members' unread counts (set after its history). */
import { GROUP_NOT_FOUND_CODE, ImError } from '../../im/errors';
import { NON_IMPORTABLE_GROUP_TYPES, UNREAD_COUNT_GROUP_TYPES, type GroupType } from '../../im/messages';
import type { LegacySource } from '../../legacy/source';
import type { GroupImportOutcome, GroupStop, ImportActivities } from '../contracts';
import { asActivity, isItemFailure } from '../im-failures';
import { pairItemId } from '../item-ids';
import { acceptedIds, type ImportContext } from './context';

export function groupActivities(
  ctx: ImportContext,
): Pick<ImportActivities, 'importGroup' | 'importGroupMembersPage' | 'setUnreadCountsPage'> {
  const { im, source, failures, limits, fail, recordOutcomes, refusedCall, reportStopped, asPage, sequentially } = ctx;

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
    if (!info || info.ErrorCode !== 0) throw groupInfoError(info);
    const differs: string[] = [];
    if (info.Type !== g.type) differs.push('type');
    if (g.createTime !== undefined && info.CreateTime !== g.createTime) differs.push('creation time');
    if (g.createTime === undefined && (info.Owner_Account ?? '') !== (g.ownerId ?? '')) differs.push('owner');
    if (g.createTime === undefined && info.Name !== g.name) differs.push('name');
    return differs.length > 0 ? `its ${differs.join(', ')} differ from the bundle's` : undefined;
  }

  return {
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

    setUnreadCountsPage: ({ migrationId, groupId, after, calls }) =>
      asPage(migrationId, after, async (progress) => {
        const group = source.group(groupId);
        const page = source.groupUnreadCounts(groupId, { after, limit: calls });
        if (!group || !UNREAD_COUNT_GROUP_TYPES.includes(group.type as GroupType)) {
          // IM keeps no unread counts for this type; setting them is ineffective, so nothing to do.
          return { done: page.items.length, failed: 0, next: page.next };
        }
        let groupStop: GroupStop | undefined;
        const counts = await sequentially(
          page.items,
          progress,
          (m) => m.userId,
          async (m) => {
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
          },
        );
        return { ...counts, next: page.next, groupStop };
      }),
  };
}

/** get_group_info's entry for a group that is missing or an error, as a retryable error (no entry: the group not found). */
export function groupInfoError(info: { ErrorCode: number; ErrorInfo?: string } | undefined): ImError {
  return new ImError('get_group_info', info?.ErrorCode ?? GROUP_NOT_FOUND_CODE, info?.ErrorInfo ?? 'no answer for the group', 'retryable');
}
