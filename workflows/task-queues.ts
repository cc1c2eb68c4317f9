/**
 * Task queues: one per IM API, so each API's rate limit is a Temporal task-queue rate limit that
 * the server enforces across every worker (workers/ sets `maxTaskQueueActivitiesPerSecond` from the
 * im/ table), plus one queue for the workflows and one for store-only activities (no IM calls; the
 * page plans run as local activities of the workflow worker instead, see storePlans).
 *
 * An activity on an API's queue makes at most CALLS_PER_ACTIVITY[api] calls of that API, so the
 * queue's activity rate is the API's call rate divided by that number. Pages of several calls keep
 * Temporal's own overhead small next to IM's; a page that runs long heartbeats, so a retry resumes
 * where it stopped.
 */
import type { FailureEntity, VerifyActivities } from '../activities/contracts';
import type { ImApiName } from '../im/apis';

export const CALLS_PER_ACTIVITY: Partial<Record<ImApiName, number>> = {
  // A page is one token of its queue's rate, whatever it holds, and each user's last page is partly
  // empty: on the benchmark datasets pages of 5 can fill 94-96 % of importmsg's rate, pages of 10 only
  // 86-91 %. Larger pages save Temporal round trips, which only matters while the workers' CPU is
  // the bound, not IM's rate (docs/benchmarks.md). A pause holds queued pages (RunStates) at any size.
  importmsg: 5,
  // A read-mark page holds the marks of conversations that just finished, gathered until they fill
  // it, and each user's last one goes partly empty. Pages of 20 (then gathered by conversation count)
  // held 9 marks on average on the sample, so the queue's 10 tokens a second carried about 95 marks a
  // second, and the marks of the conversations that end last were still going 3 s after the last
  // message. Pages of 5 (4.4 marks on average) keep up with the messages.
  admin_set_msg_read: 5,
  import_group_msg: 4,
  set_unread_msg_num: 10,
};

export function callsPerActivity(api: ImApiName): number {
  return CALLS_PER_ACTIVITY[api] ?? 1;
}

/** The IM APIs the historical import writes with, each with its own queue. */
export const IMPORT_APIS = [
  'multiaccount_import',
  'portrait_set',
  'friend_import',
  'importmsg',
  'admin_set_msg_read',
  'import_group',
  'import_group_member',
  'import_group_msg',
  'set_unread_msg_num',
] as const satisfies readonly ImApiName[];
export type ImportApi = (typeof IMPORT_APIS)[number];

export const workflowTaskQueue = (prefix: string): string => `${prefix}-workflows`;
export const storeTaskQueue = (prefix: string): string => `${prefix}-store`;
export const apiTaskQueue = (prefix: string, api: ImApiName): string => `${prefix}-im-${api}`;

/** The API (and so the queue) that imports each kind of item of the failure report. */
export const FAILURE_ENTITY_API: Record<Exclude<FailureEntity, 'group'>, ImportApi> = {
  account: 'multiaccount_import',
  profile: 'portrait_set',
  friend: 'friend_import',
  message: 'importmsg',
  readMark: 'admin_set_msg_read',
  member: 'import_group_member',
  groupMessage: 'import_group_msg',
  unreadCount: 'set_unread_msg_num',
};

/** The read APIs verification uses, each with its own rate-limited queue, and its activity on each. */
export const VERIFY_ACTIVITY_API = {
  verifyAccountsPage: 'account_check',
  verifyProfilesPage: 'portrait_get',
  verifyFriendsPage: 'friend_get',
  verifyConversationPage: 'admin_getroammsg',
  verifyGroupInfo: 'get_group_info',
  verifyGroupMembersPage: 'get_group_member_info',
  verifyGroupMessagesPage: 'group_msg_get_simple',
} as const satisfies Record<keyof VerifyActivities, ImApiName>;
export type VerifyApi = (typeof VERIFY_ACTIVITY_API)[keyof VerifyActivities];
export const VERIFY_APIS = Object.values(VERIFY_ACTIVITY_API) as VerifyApi[];
