/**
 * The migration's edges, end to end (dev server, IM emulator, staging store, real workers): a
 * wrong secret key pauses the migration with its reason and `resume` finishes it; `status` says how a
 * closed migration ended; `retry-failed` on a paused or cancelled migration ends with a reason.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImEmulator } from '../emulator/im';
import { IM_APIS, resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { StagingStore } from '../legacy/store';
import { SyncJournal } from '../legacy/sync-journal';
import { formatIssue, validateBundle } from '../legacy/validate';
import { migrationStatus, retryFailed, watchMigration } from '../scripts/commands/migration';
import { IMPORT_PHASES, progressQuery, resumeSignal, type MigrationOptions } from '../workflows/api';
import { migrationWorkflow } from '../workflows/migration';
import { workflowTaskQueue } from '../workflows/task-queues';
import { loadTemporalSettings } from '../workers/settings';
import { closeImTestbed, loadSampleStore, startImportWorkers, startImTestbed } from './helpers/import-stack';
import { waitForWorkflow } from './helpers/polling';
import { TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000321, secretKey: 'the-right-secret-key', admin: 'administrator' };

describe('migration edges', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let store: StagingStore;
  let dir: string;

  beforeAll(async () => {
    ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-edges-'));
    store = await loadSampleStore(dir, { seed: 7, users: 12, groups: 3, messages: 120, groupMessages: 60 });
  });
  afterAll(async () => {
    store?.close();
    await closeImTestbed({ temporal, emulator });
  });

  /** Import workers whose IM client signs with `secretKey`; stop() shuts them down. */
  const startWorkers = (prefix: string, secretKey = IM.secretKey, settings: Record<string, string> = {}) =>
    startImportWorkers(temporal, {
      taskQueuePrefix: prefix,
      store,
      im: new ImClient({ ...IM, secretKey, baseUrl: emulator.baseUrl, timeoutMs: 10_000 }),
      limits: resolveApiLimits(settings),
    });

  const options = (prefix: string, over: Partial<MigrationOptions> = {}): MigrationOptions => ({
    migrationId: uniqueId('edge'),
    taskQueuePrefix: prefix,
    phases: [...IMPORT_PHASES],
    userConcurrency: 6,
    groupConcurrency: 3,
    accountConcurrency: 2,
    accountListShape: false,
    batchSizes: { accounts: 5, friends: 1000, members: 20 },
    // Each test starts from an empty IM (emulator.reset()) over the same store: everything is sent.
    full: true,
    ...over,
  });

  const start = (opts: MigrationOptions) =>
    temporal.client.workflow.start(migrationWorkflow, {
      taskQueue: workflowTaskQueue(opts.taskQueuePrefix),
      workflowId: opts.migrationId,
      args: [{ options: opts }],
    });

  const settings = (prefix: string) => ({ ...loadTemporalSettings({}), TIM_TASK_QUEUE_PREFIX: prefix });

  test('a wrong secret key pauses the migration with its reason in status, watch and the Web UI; resume with the right key completes it exactly', async () => {
    emulator.reset();
    const prefix = uniqueId('edge');
    let workers = await startWorkers(prefix, 'a-wrong-secret-key');
    try {
      const opts = options(prefix);
      const handle = await start(opts);
      const notices: string[] = [];
      const watching = watchMigration(temporal.client, opts.migrationId, 100, (line) => notices.push(line));
      await waitForWorkflow(async () => (await handle.query(progressQuery)).state === 'paused');
      const progress = await handle.query(progressQuery);
      expect(progress.lastError).toMatch(/70009/);
      expect(progress.phases.accounts.done).toBe(0);
      const status = await migrationStatus(temporal.client, opts.migrationId);
      expect(status).toMatch(new RegExp(`^${opts.migrationId}: paused \\(accounts\\)`));
      expect(status).toMatch(/last problem: paused: IM refused our configuration \(multiaccount_import failed with 70009/);
      // The Web UI shows the workflow's current details.
      const metadata = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
      expect(metadata.currentDetails).toMatch(/paused/);
      expect(metadata.currentDetails).toMatch(/Last problem: paused: IM refused our configuration .*70009/);
      await waitForWorkflow(async () => notices.includes('paused') && notices.some((n) => /^last problem: paused: .*70009/.test(n)));
      // A load into the store of a migration that has not ended is refused, and leaves its indexes alone.
      await expect(store.load(join(dir, 'bundle'))).rejects.toThrow(
        `this store has a migration that has not ended: ${opts.migrationId} (paused)`,
      );
      expect(indexNames(store)).toContain('messages_by_conversation');

      // The setting fixed: workers restarted with the right key, then resume.
      await workers.stop();
      workers = await startWorkers(prefix);
      await handle.signal(resumeSignal);
      const result = await watching;
      expect(result.state).toBe('completed');
      const totals = store.totals();
      expect(result.phases.accounts).toMatchObject({ done: totals.accounts, failed: 0 });
      expect(result.phases.messages).toMatchObject({ done: totals.messages, failed: 0 });
      expect(result.phases.groupMessages.done + result.phases.groupMessages.failed).toBe(totals.groupMessages);
      const snap = emulator.snapshot();
      expect(snap.accounts.filter((a) => a.id !== IM.admin)).toHaveLength(totals.accounts);
      expect(Object.values(snap.conversations).reduce((n, list) => n + list.length, 0)).toBe(totals.messages);
      expect(Object.values(snap.groups).reduce((n, g) => n + g.messages.length, 0)).toBe(result.phases.groupMessages.done);
      expect(notices).toContain('completed');
      expect(store.runState(opts.migrationId)).toBe('completed');
      expect(await migrationStatus(temporal.client, opts.migrationId)).toMatch(new RegExp(`^${opts.migrationId}: completed \\(done\\)`));
    } finally {
      await workers.stop();
    }
  });

  test('load is refused while a migration or the live sync uses the store', async () => {
    const other = new StagingStore(join(dir, 'other.sqlite'));
    try {
      other.setRunState('m-running', 'running');
      await expect(other.load(join(dir, 'bundle'))).rejects.toThrow(
        /migration that has not ended: m-running \(running\); a load now would drop the indexes/,
      );
      expect(indexNames(other)).toEqual(expect.arrayContaining(['messages_by_conversation', 'group_messages_by_group']));
      expect(other.totals().messages).toBe(0);
      // A terminated migration never records its end: --force.
      expect((await other.load(join(dir, 'bundle'), { force: true })).errors).toBe(0);
      other.setRunState('m-running', 'completed');
      expect((await other.load(join(dir, 'bundle'))).errors).toBe(0);
      new SyncJournal(other.db).setStatus('paused');
      await expect(other.load(join(dir, 'bundle'))).rejects.toThrow(
        /the live sync of this store is paused .*; a load now would drop the indexes/,
      );
    } finally {
      other.close();
    }
  });

  test('a run continues-as-new while its children still run, and the migration completes with exact counts', async () => {
    emulator.reset();
    const prefix = uniqueId('edge');
    // Group history goes slowly (two calls a second), so the groups outlast the migration's runs.
    const workers = await startWorkers(prefix, IM.secretKey, { TIM_RATE_IMPORT_GROUP_MSG: '2' });
    try {
      const opts = options(prefix, { historyEventBudget: 40 });
      const result = await (await start(opts)).result();
      expect(result.state).toBe('completed');
      const totals = store.totals();
      expect(result.phases.accounts).toMatchObject({ done: totals.accounts, failed: 0 });
      expect(result.phases.profiles).toMatchObject({ done: totals.accounts, failed: 0 });
      expect(result.phases.messages).toMatchObject({ done: totals.messages, failed: 0 });
      expect(result.phases.groups.done + result.phases.groups.failed).toBe(totals.groups);
      expect(result.phases.groupMessages.done + result.phases.groupMessages.failed).toBe(totals.groupMessages);
      const snap = emulator.snapshot();
      expect(Object.values(snap.conversations).reduce((n, list) => n + list.length, 0)).toBe(totals.messages);
      expect(Object.values(snap.groups).reduce((n, g) => n + g.messages.length, 0)).toBe(result.phases.groupMessages.done);
      // Some run of the migration ended (continued-as-new) while a child's run it had started went on.
      const runsOf = async (query: string) => {
        const runs = [];
        for await (const wf of temporal.client.workflow.list({ query })) runs.push(wf);
        return runs;
      };
      const parentRuns = await runsOf(`WorkflowId = '${opts.migrationId}' AND ExecutionStatus = 'ContinuedAsNew'`);
      const childRuns = await runsOf(`WorkflowId STARTS_WITH '${opts.migrationId}-'`);
      expect(parentRuns.length).toBeGreaterThan(0);
      const outlived = parentRuns.filter((p) => childRuns.some((c) => c.startTime < p.closeTime! && c.closeTime! > p.closeTime!));
      expect(outlived.length).toBeGreaterThan(0);
    } finally {
      await workers.stop();
    }
  }, 180_000);

  test('status says a migration was terminated or failed, with the reason, not that it is running', async () => {
    emulator.reset();
    const prefix = uniqueId('edge');
    const workers = await startWorkers(prefix);
    try {
      const terminated = options(prefix);
      const handle = await start(terminated);
      await waitForWorkflow(async () => (await handle.query(progressQuery)).state === 'running');
      await handle.terminate('operator stopped it');
      expect(await migrationStatus(temporal.client, terminated.migrationId)).toMatch(
        new RegExp(`^${terminated.migrationId}: terminated \\(.*\\)[^]*terminated: operator stopped it`),
      );

      // IM takes no account per call, whatever the batch: the halved batch of one still fails the run.
      emulator.setLimits({ multiaccount_import: { maxItems: 0 } });
      const failed = options(prefix);
      await start(failed)
        .then((h) => h.result())
        .catch(() => undefined);
      expect(await migrationStatus(temporal.client, failed.migrationId)).toMatch(
        new RegExp(`^${failed.migrationId}: failed \\(accounts\\)[^]*failed: multiaccount_import failed with 70206`),
      );
    } finally {
      emulator.setLimits({ multiaccount_import: { maxItems: IM_APIS.multiaccount_import.maxItems } });
      await workers.stop();
    }
  });

  test.each(['paused', 'cancelled'] as const)(
    'retry-failed on a %s migration ends with a clear reason instead of waiting forever',
    async (runState) => {
      emulator.reset();
      const prefix = uniqueId('edge');
      const workers = await startWorkers(prefix);
      try {
        // The accounts in IM, so the group's import goes past import_group to pages that look at the run state.
        const accounts = options(prefix, { phases: ['accounts'] });
        await (await start(accounts)).result();
        const migrationId = uniqueId('edge');
        const groupId = store.groupIds({ limit: 100 }).items.find((id) => store.group(id)?.type !== 'AVChatRoom')!;
        store.record({
          migrationId,
          entity: 'group',
          itemId: groupId,
          api: 'import_group',
          code: 10002,
          errorClass: 'retryable',
          reason: 'test',
        });
        store.setRunState(migrationId, runState);
        const retry = retryFailed(temporal.client, settings(prefix), migrationId, () => undefined);
        const outcome = await Promise.race([
          retry.then(
            () => 'ended',
            (err: Error) => err.message,
          ),
          new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000)),
        ]);
        expect(outcome).toMatch(
          new RegExp(`^retry-failed ${migrationId}: migration ${migrationId} is ${runState}: .* then retry its failures`),
        );
        for await (const wf of temporal.client.workflow.list({ query: `WorkflowId STARTS_WITH '${migrationId}-retry-'` })) {
          // It may end between the listing and the terminate: nothing left to stop then.
          if (wf.status.name === 'RUNNING')
            await temporal.client.workflow
              .getHandle(wf.workflowId)
              .terminate('test ended')
              .catch(() => undefined);
        }
      } finally {
        await workers.stop();
      }
    },
  );

  test('retry-failed while the migration still runs is refused', async () => {
    const prefix = uniqueId('edge');
    // No workers: the migration stays running.
    const opts = options(prefix);
    const handle = await start(opts);
    try {
      await expect(retryFailed(temporal.client, settings(prefix), opts.migrationId, () => undefined)).rejects.toThrow(
        `migration ${opts.migrationId} is still running`,
      );
    } finally {
      await handle.terminate('test ended');
    }
  });
});

describe('bundle validation', () => {
  test('a group without createTime whose members joined or who has messages is an error at the first line it would lose', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tim-undated-')), 'bundle');
    const text = (t: string) => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
    const ndjson = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    mkdirSync(dir);
    writeFileSync(join(dir, 'accounts.ndjson'), ndjson([{ id: 'a' }, { id: 'b' }]));
    writeFileSync(
      join(dir, 'groups.ndjson'),
      ndjson([
        { id: 'undated', type: 'Public', name: 'No date', owner: 'a' },
        { id: 'dated', type: 'Public', name: 'Dated', owner: 'a', createTime: 1600000000 },
        { id: 'quiet', type: 'Public', name: 'No date, no history', owner: 'a' },
      ]),
    );
    writeFileSync(
      join(dir, 'group-members.ndjson'),
      ndjson([
        { group: 'undated', account: 'a', role: 'owner' },
        { group: 'undated', account: 'b', role: 'member', joinTime: 1600000100 },
        { group: 'dated', account: 'b', role: 'member', joinTime: 1600000100 },
        { group: 'quiet', account: 'b', role: 'member' },
      ]),
    );
    writeFileSync(
      join(dir, 'group-messages.ndjson'),
      ndjson([
        { id: 'gm1', group: 'dated', from: 'a', time: 1600000200, body: text('1') },
        { id: 'gm2', group: 'undated', from: 'a', time: 1600000200, body: text('2') },
        { id: 'gm3', group: 'undated', from: 'b', time: 1600000300, body: text('3') },
      ]),
    );
    const issues: string[] = [];
    const summary = await validateBundle(dir, { onIssue: (i) => issues.push(formatIssue(i)) });
    const reason = (what: string) =>
      `group "undated" has no createTime in groups.ndjson: IM would date it at the import and refuse all its older ${what}`;
    expect(issues).toEqual([
      expect.stringMatching(new RegExp(`^group-members\\.ndjson:2 group: ${reason('member joins')}; give the group its createTime$`)),
      expect.stringMatching(new RegExp(`^group-messages\\.ndjson:2 group: ${reason('messages')}; give the group its createTime$`)),
    ]);
    expect(summary.errors).toBe(2);
    // The load refuses it too: nothing of the group reaches the import to lose its history there.
    const store = new StagingStore(join(dir, '..', 'staging.sqlite'));
    try {
      expect((await store.load(dir)).errors).toBe(2);
      expect(store.totals().groupMessages).toBe(0);
    } finally {
      store.close();
    }
  });
});

function indexNames(s: StagingStore): string[] {
  return (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as Array<{ name: string }>).map((r) => r.name);
}
