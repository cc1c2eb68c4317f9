/** retry-failed: the failure report's items sent again, one by one, through their own APIs. */
import { heartbeat } from '@temporalio/activity';
import type { ImApiName } from '../../im/apis';
import type { ItemOutcome } from '../../im/client';
import { importedMessageIdentity } from '../../legacy/id-mapping';
import type { ImportActivities } from '../contracts';
import { asActivity } from '../im-failures';
import { splitPairItemId } from '../item-ids';
import type { Entity, ImportContext } from './context';
import { addFriendItem } from './accounts';
import { importmsgRequest } from './conversations';

export function retryActivities(ctx: ImportContext): Pick<ImportActivities, 'retryFailedItems'> {
  const { im, source, failures, perItem, recordOutcomes, refusedCall } = ctx;

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
        return batchOfOne('friend_import', () => im.friendImport({ From_Account: owner, AddFriendItem: [addFriendItem(f)] }));
      }
      case 'message': {
        const m = source.message(itemId);
        if (!m) return true;
        return once('importmsg', () => im.call('importmsg', importmsgRequest(m, 'history')));
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
