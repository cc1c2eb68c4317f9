/**
 * The import → live handoff of a group whose members can already post (App 2.0, through the IM
 * client SDK) while its history goes in: IM takes no message older than the group's newest, so a
 * live post must never make the rest of the history count as done. Against the IM emulator, a
 * staging store and a real dev server; what IM holds and what the failure report says are the checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pairItemId } from '../activities/item-ids';
import type { ImEmulator } from '../emulator/im';
import { ApiError } from '../emulator/im/rest-api';
import { ImClient } from '../im/client';
import { SENDER_MUTED_CODE } from '../im/errors';
import { printFailureReport } from '../scripts/commands/migration';
import { OLDER_THAN_NEWEST_REASON, type GroupHistoryHandoff } from '../im/messages';
import { StagingStore } from '../legacy/store';
import type { FailureRecord } from '../legacy/source';
import type { ImportPhase, MigrationResult } from '../workflows/api';
import { retryFailuresWorkflow } from '../workflows/retry-failures';
import { workflowTaskQueue } from '../workflows/task-queues';
import { closeImTestbed, runMigration, startImportWorkers, startImTestbed, testMigrationOptions } from './helpers/import-stack';
import { text } from './helpers/messages';
import { TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000123, secretKey: 'test-secret-key', admin: 'administrator' };
const NOW = Math.floor(Date.now() / 1000);
const CREATED = NOW - 100_000;
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5'];
const PHASES: ImportPhase[] = ['accounts', 'groups', 'members', 'groupMessages', 'unreadCounts'];

/** One group of u1 (owner) .. u5 with `messages` messages. */
function writeBundle(dir: string, group: { id: string; type: string; messages: number }): void {
  mkdirSync(dir, { recursive: true });
  const ndjson = (file: string, rows: object[]) =>
    writeFileSync(join(dir, file), rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  ndjson(
    'accounts.ndjson',
    USERS.map((id) => ({ id })),
  );
  ndjson('groups.ndjson', [{ id: group.id, type: group.type, owner: 'u1', name: `group ${group.id}`, createTime: CREATED }]);
  ndjson('friendships.ndjson', []);
  ndjson('messages.ndjson', []);
  ndjson('read-marks.ndjson', []);
  ndjson(
    'group-members.ndjson',
    USERS.map((account, i) => ({ group: group.id, account, role: i === 0 ? 'owner' : 'member', joinTime: CREATED + 10 + i, unread: i })),
  );
  ndjson(
    'group-messages.ndjson',
    Array.from({ length: group.messages }, (_, i) => ({
      id: `${group.id}-m${i}`,
      group: group.id,
      from: USERS[i % 5],
      time: CREATED + 1000 + i * 60,
      body: text(`${i}`),
    })),
  );
}

describe('group history handoff to live posts', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let dir: string;

  beforeAll(async () => ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-handoff-')));
  afterAll(() => closeImTestbed({ temporal, emulator }));
  beforeEach(() => emulator.reset());

  const im = () => new ImClient({ ...IM, baseUrl: emulator.baseUrl });

  async function migrate(group: { id: string; type?: string; messages: number }, handoff?: GroupHistoryHandoff) {
    const bundle = join(dir, uniqueId('bundle'));
    writeBundle(bundle, { type: 'Private', ...group });
    const store = new StagingStore(join(dir, `${uniqueId('staging')}.sqlite`));
    expect((await store.load(bundle)).errors).toBe(0);
    const prefix = uniqueId('handoff');
    const workers = await startImportWorkers(temporal, { taskQueuePrefix: prefix, store, im: im(), groupHistoryHandoff: handoff });
    const options = testMigrationOptions(prefix, {
      migrationId: uniqueId('handoff'),
      phases: PHASES,
      userConcurrency: 2,
      groupConcurrency: 2,
      batchSizes: { accounts: 100, friends: 1000, members: 20, groupMessages: 7 },
    });
    const run = (): Promise<MigrationResult> => runMigration(temporal, options, { workflowExecutionTimeout: '90 seconds' });
    const retryFailed = () =>
      temporal.client.workflow.execute(retryFailuresWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: uniqueId('retry'),
        args: [{ migrationId: options.migrationId, taskQueuePrefix: prefix, batchSizes: options.batchSizes }],
      });
    const failures = (entity?: string): FailureRecord[] => store.failures(options.migrationId, { limit: 1000, entity }).items;
    const close = async () => {
      await workers.stop();
      store.close();
    };
    return { store, options, run, retryFailed, failures, close };
  }

  const groupOf = (groupId: string) => emulator.snapshot().groups[groupId];

  /** Before the `nth` call that `matches`, `userId` posts in g1 through the client SDK; resolves to IM's code. */
  function postBefore(nth: number, matches: (api: string, body: Record<string, unknown>) => boolean, userId: string): Promise<number> {
    let calls = 0;
    let settle: (code: number) => void = () => undefined;
    const answer = new Promise<number>((resolve) => (settle = resolve));
    emulator.intercept((api, body, handle) => {
      if (matches(api, body) && ++calls === nth) {
        emulator
          .asUser(userId)
          .sendGroupMsg('g1', text('live'))
          .then(
            () => settle(0),
            (err: unknown) => settle(err instanceof ApiError ? err.code : -1),
          );
      }
      return handle(body);
    });
    return answer;
  }
  const importCall = (api: string) => api === 'import_group_msg';
  /** A history page's look at IM's newest message (pages are 4 calls of 7: 28 messages). */
  const pageStart = (api: string, body: Record<string, unknown>) =>
    api === 'get_group_info' && JSON.stringify(body).includes('LastMsgTime');

  test('a member posting mid-import is refused while the group is muted; the whole history goes in and the group gets its own setting back', async () => {
    const m = await migrate({ id: 'g1', messages: 20 });
    try {
      const posted = postBefore(2, importCall, 'u2');
      const result = await m.run();
      expect(await posted).toBe(SENDER_MUTED_CODE);
      expect(groupOf('g1').messages.map((x) => x.body)).toEqual(Array.from({ length: 20 }, (_, i) => text(`${i}`)));
      expect(result.phases.groupMessages).toMatchObject({ done: 20, failed: 0 });
      expect(m.failures()).toEqual([]);
      expect(groupOf('g1').muteAllMember).toBe('Off');
      const hold = m.store.groupHistoryHold('g1');
      expect(hold).toMatchObject({ migrationId: m.options.migrationId, originalMute: 'Off' });
      expect(hold!.restoredAt).toBeGreaterThanOrEqual(hold!.mutedAt!);
      // `tim-migrate report` shows the rule and the group's mute and restore.
      const report: string[] = [];
      printFailureReport(m.store, m.options.migrationId, undefined, (line) => report.push(line));
      expect(report).toContainEqual(expect.stringMatching(/^Group history handoff: 1 group\(s\) muted/));
      expect(report).toContainEqual(expect.stringMatching(/^hold\tg1\tmuted \d{4}-.*\trestored \d{4}-.*\town setting Off$/));
      // The members can post again.
      await emulator.asUser('u2').sendGroupMsg('g1', text('after'));
    } finally {
      await m.close();
    }
  });

  test('an owner post that still lands mid-import sends the history it overtook to the failure report, never counted as done', async () => {
    // MuteAllMember leaves the owner free to post (the emulator's default; UNCONFIRMED for IM).
    const m = await migrate({ id: 'g1', messages: 30 });
    try {
      const posted = postBefore(2, pageStart, 'u1');
      const result = await m.run();
      expect(await posted).toBe(0);
      // The first page's 28, then the live post; the 2 older ones cannot go in after it.
      expect(groupOf('g1').messages.map((x) => x.body)).toEqual([...Array.from({ length: 28 }, (_, i) => text(`${i}`)), text('live')]);
      const reported = m.failures('groupMessage');
      expect(reported.map((f) => [f.itemId, f.reason])).toEqual([
        ['g1-m28', OLDER_THAN_NEWEST_REASON],
        ['g1-m29', OLDER_THAN_NEWEST_REASON],
      ]);
      expect(result.phases.groupMessages).toMatchObject({ done: 28, failed: 2 });
      expect(groupOf('g1').muteAllMember).toBe('Off');
    } finally {
      await m.close();
    }
  });

  test("with the 'report' rule a member's post lands, and every history message it overtook is reported with the reason", async () => {
    const m = await migrate({ id: 'g1', messages: 30 }, 'report');
    try {
      // Between two pages: the second finds IM's newest message newer than its history.
      const posted = postBefore(2, pageStart, 'u3');
      const result = await m.run();
      expect(await posted).toBe(0);
      expect(groupOf('g1').messages).toHaveLength(28 + 1);
      const reported = m.failures('groupMessage');
      expect(reported.map((f) => f.itemId).sort()).toEqual(['g1-m28', 'g1-m29']);
      expect(reported[0].reason).toBe(OLDER_THAN_NEWEST_REASON);
      expect(result.phases.groupMessages).toMatchObject({ done: 28, failed: 2 });
      expect(m.store.groupHistoryHold('g1')).toBeUndefined();
    } finally {
      await m.close();
    }
  });
  test("a crash after the mute still restores the group's own setting: it was recorded before the change", async () => {
    const m = await migrate({ id: 'g1', messages: 3 });
    try {
      let first = true;
      emulator.intercept((api, body, handle) => {
        if (api !== 'modify_group_base_info' || !first) return handle(body);
        // The mute goes in, its answer is lost: the activity runs again and finds the group muted.
        first = false;
        handle(body);
        throw new ApiError(10002, 'internal error, retry');
      });
      await m.run();
      expect(first).toBe(false);
      expect(groupOf('g1').muteAllMember).toBe('Off');
      expect(groupOf('g1').messages).toHaveLength(3);
    } finally {
      await m.close();
    }
  });

  test('a group muted by its own setting stays muted after its history went in', async () => {
    const m = await migrate({ id: 'g1', messages: 3 });
    try {
      // IM already holds the group (an earlier run), muted by its own admins.
      await im().multiaccountImport({ Accounts: USERS });
      await im().call('import_group', { GroupId: 'g1', Type: 'Private', Owner_Account: 'u1', Name: 'group g1', CreateTime: CREATED });
      await im().call('modify_group_base_info', { GroupId: 'g1', MuteAllMember: 'On' });
      await m.run();
      expect(groupOf('g1').muteAllMember).toBe('On');
      expect(m.store.groupHistoryHold('g1')).toMatchObject({ originalMute: 'On' });
      expect(groupOf('g1').messages).toHaveLength(3);
    } finally {
      await m.close();
    }
  });

  test('an AVChatRoom is counted as unsupported, and its members and history are reported with the reason', async () => {
    const m = await migrate({ id: 'live1', type: 'AVChatRoom', messages: 4 });
    try {
      const result = await m.run();
      expect(result.unsupportedGroups).toBe(1);
      expect(result.childFailures).toBe(0);
      expect(m.failures('group').map((f) => f.itemId)).toEqual(['live1']);
      const reason = m.failures('group')[0].reason;
      expect(m.failures('member').map((f) => [f.itemId, f.reason])).toEqual(USERS.slice(1).map((u) => [pairItemId('live1', u), reason]));
      expect(
        m
          .failures('groupMessage')
          .map((f) => f.itemId)
          .sort(),
      ).toEqual(['live1-m0', 'live1-m1', 'live1-m2', 'live1-m3']);
      expect(m.failures('groupMessage').every((f) => f.reason === reason)).toBe(true);
      expect(result.phases.groupMessages).toMatchObject({ done: 0, failed: 4 });
      expect(groupOf('live1')).toBeUndefined();
    } finally {
      await m.close();
    }
  });

  test('retry-failed on a group IM refused re-imports it and clears what went in: nothing stays reported', async () => {
    const m = await migrate({ id: 'g1', messages: 10 });
    try {
      emulator.intercept((api, body, handle) => {
        if (api === 'import_group') throw new ApiError(10007, 'no permission');
        return handle(body);
      });
      await m.run();
      expect(m.failures('groupMessage')).toHaveLength(10);
      expect(m.failures('member')).toHaveLength(4);
      emulator.intercept(undefined);
      const retried = await m.retryFailed();
      expect(retried.remaining).toEqual({});
      expect(groupOf('g1').messages.map((x) => x.body)).toEqual(Array.from({ length: 10 }, (_, i) => text(`${i}`)));
    } finally {
      await m.close();
    }
  });
});
