/**
 * A migration's plan, before anything is written to IM: what the staging store holds per phase,
 * the IM calls and time each phase needs at the rate table, and what IM will refuse or hide from
 * users, so a team can schedule the cutover and fix its console settings first.
 *
 * Time: accounts go first, then every other phase runs side by side on its own API, so the import
 * takes about the accounts' time plus the slowest other API's time (README, "How the import works").
 */
import type Database from 'better-sqlite3';
import { IM_APIS, type ApiLimitTable, type ImApiName } from '../im/apis';
import { NON_IMPORTABLE_GROUP_TYPES, type GroupType } from '../im/messages';

/** Group types whose members see no history from before they joined, unless the console switch is on. */
export const PREJOIN_HISTORY_HIDDEN_TYPES: readonly GroupType[] = ['Private', 'Public', 'Community'];

export interface PhasePlan {
  phase: string;
  api: ImApiName;
  items: number;
  calls: number;
  seconds: number;
}

export interface MigrationPlan {
  phases: PhasePlan[];
  /** The import's bound: the accounts' time plus the slowest other API's time. */
  importSeconds: number;
  /** The whole-import verification's bound at the read APIs' rates (one call per page of a read API). */
  verifySeconds: number;
  refused: {
    /** Groups of a type IM cannot import (AVChatRoom), with their members and messages. */
    unsupportedGroups: number;
    unsupportedMembers: number;
    unsupportedMessages: number;
  };
  visibility: {
    roamingDays: number;
    /** One-to-one and group messages older than the roaming retention at `now`. */
    messagesOlderThanRetention: number;
    messages: number;
    /** Members who joined a group after some of its messages, in group types that hide pre-join history. */
    membersMissingEarlierHistory: number;
    groupsAffected: number;
  };
}

const NON_IMPORTABLE = NON_IMPORTABLE_GROUP_TYPES.map((t) => `'${t}'`).join(', ');
const PREJOIN_HIDDEN = PREJOIN_HISTORY_HIDDEN_TYPES.map((t) => `'${t}'`).join(', ');

export function planMigration(db: Database.Database, limits: ApiLimitTable, opts: { nowS: number; roamingDays: number }): MigrationPlan {
  const count = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number | null }).n ?? 0;
  const importable = `group_id IN (SELECT im_id FROM groups WHERE type NOT IN (${NON_IMPORTABLE}))`;
  const perCall = (api: ImApiName) => limits[api].maxItems;
  const phase = (name: string, api: ImApiName, items: number, calls: number): PhasePlan => ({
    phase: name,
    api,
    items,
    calls,
    seconds: calls / limits[api].callsPerSecond,
  });

  const accounts = count('SELECT COUNT(*) AS n FROM accounts');
  const phases = [
    phase('accounts', 'multiaccount_import', accounts, Math.ceil(accounts / perCall('multiaccount_import'))),
    phase('profiles', 'portrait_set', accounts, accounts),
    phase(
      'friends',
      'friend_import',
      count('SELECT COUNT(*) AS n FROM friendships'),
      count(
        `SELECT SUM((n + ${perCall('friend_import')} - 1) / ${perCall('friend_import')}) AS n FROM (SELECT COUNT(*) AS n FROM friendships GROUP BY owner)`,
      ),
    ),
    phase('messages', 'importmsg', count('SELECT COUNT(*) AS n FROM messages'), count('SELECT COUNT(*) AS n FROM messages')),
    phase('readMarks', 'admin_set_msg_read', count('SELECT COUNT(*) AS n FROM read_marks'), count('SELECT COUNT(*) AS n FROM read_marks')),
    phase(
      'groups',
      'import_group',
      count(`SELECT COUNT(*) AS n FROM groups WHERE type NOT IN (${NON_IMPORTABLE})`),
      count(`SELECT COUNT(*) AS n FROM groups WHERE type NOT IN (${NON_IMPORTABLE})`),
    ),
    phase(
      'members',
      'import_group_member',
      count(`SELECT COUNT(*) AS n FROM group_members WHERE role <> 'owner' AND ${importable}`),
      count(
        `SELECT SUM((n + ${perCall('import_group_member')} - 1) / ${perCall('import_group_member')}) AS n FROM (SELECT COUNT(*) AS n FROM group_members WHERE role <> 'owner' AND ${importable} GROUP BY group_id)`,
      ),
    ),
    phase(
      'groupMessages',
      'import_group_msg',
      count(`SELECT COUNT(*) AS n FROM group_messages WHERE ${importable}`),
      count(
        `SELECT SUM((n + ${perCall('import_group_msg')} - 1) / ${perCall('import_group_msg')}) AS n FROM (SELECT COUNT(*) AS n FROM group_messages WHERE ${importable} GROUP BY group_id)`,
      ),
    ),
    phase(
      'unreadCounts',
      'set_unread_msg_num',
      count(`SELECT COUNT(*) AS n FROM group_members WHERE unread > 0 AND ${importable}`),
      count(`SELECT COUNT(*) AS n FROM group_members WHERE unread > 0 AND ${importable}`),
    ),
  ];
  const [accountPhase, ...others] = phases;
  const secondsByApi = new Map<ImApiName, number>();
  for (const p of others) secondsByApi.set(p.api, (secondsByApi.get(p.api) ?? 0) + p.seconds);

  // Verification: one read call per page; admin_getroammsg and group_msg_get_simple page by their own sizes.
  const readSeconds = (api: ImApiName, calls: number) => calls / limits[api].callsPerSecond;
  const pages = (api: ImApiName, table: string, key: string, where = '1 = 1') =>
    count(
      `SELECT SUM((n + ${IM_APIS[api].maxItems} - 1) / ${IM_APIS[api].maxItems}) AS n FROM (SELECT COUNT(*) AS n FROM ${table} WHERE ${where} GROUP BY ${key})`,
    );
  const verifySeconds = Math.max(
    readSeconds('account_check', Math.ceil(accounts / IM_APIS.account_check.maxItems)),
    readSeconds('friend_get', count('SELECT COUNT(DISTINCT owner) AS n FROM friendships')),
    readSeconds('admin_getroammsg', pages('admin_getroammsg', 'messages', 'conv_owner, conv_peer')),
    readSeconds('get_group_member_info', pages('get_group_member_info', 'group_members', 'group_id', importable)),
    readSeconds('group_msg_get_simple', pages('group_msg_get_simple', 'group_messages', 'group_id', importable)),
  );

  const oldest = opts.nowS - opts.roamingDays * 86_400;
  const groupMembersMissingHistory = `FROM group_members m JOIN groups g ON g.im_id = m.group_id
    WHERE g.type IN (${PREJOIN_HIDDEN}) AND m.join_time IS NOT NULL
      AND EXISTS (SELECT 1 FROM group_messages x WHERE x.group_id = m.group_id AND x.time < m.join_time)`;
  return {
    phases,
    importSeconds: accountPhase.seconds + Math.max(0, ...secondsByApi.values()),
    verifySeconds,
    refused: {
      unsupportedGroups: count(`SELECT COUNT(*) AS n FROM groups WHERE type IN (${NON_IMPORTABLE})`),
      unsupportedMembers: count(`SELECT COUNT(*) AS n FROM group_members WHERE NOT ${importable}`),
      unsupportedMessages: count(`SELECT COUNT(*) AS n FROM group_messages WHERE NOT ${importable}`),
    },
    visibility: {
      roamingDays: opts.roamingDays,
      messagesOlderThanRetention:
        count('SELECT COUNT(*) AS n FROM messages WHERE time < ?', oldest) +
        count(`SELECT COUNT(*) AS n FROM group_messages WHERE time < ? AND ${importable}`, oldest),
      messages: count('SELECT COUNT(*) AS n FROM messages') + count(`SELECT COUNT(*) AS n FROM group_messages WHERE ${importable}`),
      membersMissingEarlierHistory: count(`SELECT COUNT(*) AS n ${groupMembersMissingHistory}`),
      groupsAffected: count(`SELECT COUNT(DISTINCT m.group_id) AS n ${groupMembersMissingHistory}`),
    },
  };
}

export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** The plan as the CLI prints it. */
export function formatPlan(plan: MigrationPlan, existingAccounts?: { existing: number; checked: number }): string {
  const rows = [['Phase', 'API', 'Items', 'Calls', 'Time at the rate table']];
  for (const p of plan.phases) rows.push([p.phase, p.api, String(p.items), String(p.calls), formatDuration(p.seconds)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
  const v = plan.visibility;
  const share = v.messages === 0 ? 0 : (100 * v.messagesOlderThanRetention) / v.messages;
  const lines = [
    table,
    '',
    `Import: about ${formatDuration(plan.importSeconds)} (accounts first, then the slowest API; every other phase runs beside it).`,
    `Verification of the whole import: about ${formatDuration(plan.verifySeconds)} at the read APIs' rates.`,
    '',
    'What IM will refuse:',
    `  ${plan.refused.unsupportedGroups} group(s) of a type IM cannot import (AVChatRoom), with ${plan.refused.unsupportedMembers} member row(s) and ${plan.refused.unsupportedMessages} message(s): they go to the failure report.`,
    '',
    'What users will see (IM console settings):',
    `  ${v.messagesOlderThanRetention} of ${v.messages} messages (${share.toFixed(1)} %) are older than the roaming retention of ${v.roamingDays} days (TIM_ROAMING_DAYS): ` +
      'whether IM shows back-dated history older than that is unconfirmed; extend the retention in the console, or check with a small import first.',
    `  ${v.membersMissingEarlierHistory} member(s) of ${v.groupsAffected} group(s) joined after some of their group's messages: ` +
      'in Private, Public and Community groups they will not see those unless "view messages from before joining" is switched on in the console.',
  ];
  if (existingAccounts)
    lines.push(
      '',
      `Accounts already in IM (account_check): ${existingAccounts.existing} of ${existingAccounts.checked}: importing them again is harmless.`,
    );
  return lines.join('\n');
}
