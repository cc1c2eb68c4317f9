/** Accounts, their profiles and their friends: the first three phases, per user. */
import { activityInfo } from '@temporalio/activity';
import { PROFILE_TAGS } from '../../im/messages';
import type { ImportFriend } from '../../legacy/source';
import type { Counts } from '../../workflows/api';
import type { ImportActivities } from '../contracts';
import { pairItemId } from '../item-ids';
import { asActivity } from '../im-failures';
import { acceptedIds, retryLater, type ImportContext } from './context';

/** A friends page that must send some friends again: those, and the counts of the others. */
interface FriendsProgress extends Counts {
  pending: string[];
}

export function accountActivities(
  ctx: ImportContext,
): Pick<ImportActivities, 'importAccountBatch' | 'importProfile' | 'importFriendsPage'> {
  const { im, source, limits, perItem, settleOutcomes, recordOutcomes, refusedCall, asPage } = ctx;
  return {
    importAccountBatch: ({ migrationId, after, limit }) =>
      asActivity(async () => {
        const page = source.accounts({ after: after ?? undefined, limit });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        const outcomes = ctx.accountListShape
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
        const AddFriendItem = items.map(addFriendItem);
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
  };
}

/** A bundle friendship as friend_import's AddFriendItem entry (the import's pages and the failure-report retry). */
export function addFriendItem(f: ImportFriend) {
  return {
    To_Account: f.toUserId,
    Remark: f.remark,
    GroupName: f.groupNames,
    AddSource: f.addSource,
    AddWording: f.addWording,
    AddTime: f.addTime,
    CustomItem: f.customItems,
  };
}
