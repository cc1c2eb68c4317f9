/** One-to-one history and its read marks, per user. */
import { activityInfo } from '@temporalio/activity';
import { SYNC_FROM_OLD_SYSTEM } from '../../im/messages';
import { importedMessageIdentity } from '../../legacy/id-mapping';
import type { ImRequests } from '../../im/client';
import type { ImportC2CMessage } from '../../legacy/source';
import type { ImportActivities } from '../contracts';
import { pairItemId } from '../item-ids';
import type { ImportContext } from './context';

/**
 * The importmsg call for a message of the bundle: its identity (MsgSeq orders the conversation's
 * messages of one second as the bundle does) and its own time, so IM keeps one copy however many
 * times and from wherever it is written (the import, a retry, the live sync at the export boundary).
 */
export function importmsgRequest(
  m: ImportC2CMessage,
  mode: keyof typeof SYNC_FROM_OLD_SYSTEM,
  cloudCustomData = m.cloudCustomData,
): ImRequests['importmsg'] {
  const { msgSeq, msgRandom } = importedMessageIdentity(m);
  return {
    SyncFromOldSystem: SYNC_FROM_OLD_SYSTEM[mode],
    From_Account: m.from,
    To_Account: m.to,
    MsgSeq: msgSeq,
    MsgRandom: msgRandom,
    MsgTimeStamp: m.time,
    MsgBody: m.body,
    CloudCustomData: cloudCustomData,
  };
}

export function conversationActivities(ctx: ImportContext): Pick<ImportActivities, 'importMessagesPage' | 'importReadMarksPage'> {
  const { im, source, failures, perItem, asPage, sequentially } = ctx;
  return {
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
              const c = await perItem(migrationId, 'message', m.oldId, 'importmsg', () =>
                im.call('importmsg', importmsgRequest(m, 'history')),
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
        const counts = await sequentially(
          page.items,
          progress,
          (r) => pairItemId(r.reader, r.peer),
          async (r) => {
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
          },
        );
        return { ...counts, next: page.next };
      }),
  };
}
