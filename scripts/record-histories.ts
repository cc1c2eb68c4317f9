/**
 * Records the JSON histories that test/replay.test.ts replays: real runs of every workflow type of
 * workflows/index.ts on a fresh dev server, the IM and old-system emulators and the real workers, in
 * the cases a running deployment holds (completed, paused then resumed, continued-as-new, with
 * failed items), saved where scripts/lib/recorded-histories.ts says, as the SDK's replayer reads
 * them (historyToJSON). The version folder is cleared first, so it holds exactly what this run
 * recorded; older versions' folders stay, and keep being replayed.
 *
 *   npm run record-histories
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { NativeConnection } from '@temporalio/worker';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import type { MsgBody } from '../im/messages';
import { writeSampleBundle } from '../legacy/sample';
import { StagingStore } from '../legacy/store';
import { IMPORT_PHASES, pauseSignal, progressQuery, resumeSignal, type MigrationOptions, type MigrationResult } from '../workflows/api';
import { migrationWorkflow } from '../workflows/migration';
import { retryFailuresWorkflow } from '../workflows/retry-failures';
import type { entitySyncWorkflow } from '../workflows/sync';
import { syncControlWorkflowId, syncEntityWorkflowId, syncTaskQueue, type EntitySyncInput, type SyncEntity } from '../workflows/sync-api';
import { workflowTaskQueue } from '../workflows/task-queues';
import { verifyWorkflowId, type VerifyResult } from '../workflows/verify-api';
import { createImportStack } from '../workers/import-workers';
import { installQuietWorkerLogging } from '../workers/logging';
import { runVerification } from './commands/verify';
import { startCoexistence } from './lib/coexistence';
import { startDevServer } from './lib/dev-server';
import { HISTORIES_DIR, packageVersion, unrecordedWorkflowTypes, WORKFLOW_IDS_FILE } from './lib/recorded-histories';
import { signalSync, startSync } from './lib/sync-control';

const IM = { sdkAppId: 1400000555, secretKey: 'record-histories-key', admin: 'administrator' };
/** Small on purpose: every history stays a few dozen KB and the whole recording well under two minutes. */
const SAMPLE = { seed: 11, users: 6, groups: 5, messages: 60, groupMessages: 150 };
/** Low enough that the migration and its busiest children each continue-as-new at least once. */
const SMALL_HISTORY_BUDGET = 30;
const ENTITY_IDLE_CLOSE_MS = 1500;
/** Worker identities name the recording machine; replay never reads them. */
const IDENTITY = 'record-histories';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];

interface Recorder {
  client: Client;
  /** name → workflow id of every history saved so far. */
  workflowIds: Record<string, string>;
  /**
   * Saves the one run of a workflow that must not have continued-as-new. `firstRunId` names the
   * run where a later one may have started under the same id (a sync entity's next event).
   */
  saveRun(name: string, workflowId: string, firstRunId?: string): Promise<void>;
  /** Saves the first and the last run of a workflow that must have continued-as-new. */
  saveContinuedRuns(name: string, workflowId: string, firstRunId?: string): Promise<void>;
}

function recorder(client: Client, outDir: string): Recorder {
  /** Every run of a workflow, first to last, by the continue-as-new links of their histories. */
  async function runsOf(workflowId: string, firstRunId?: string): Promise<History[]> {
    const latest = await client.workflow.getHandle(workflowId, firstRunId).fetchHistory();
    let runId = latest.events?.[0]?.workflowExecutionStartedEventAttributes?.firstExecutionRunId ?? undefined;
    if (!runId) throw new Error(`${workflowId}: its history does not say its first run`);
    const runs: History[] = [];
    while (runId) {
      const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      runs.push(history);
      const last = history.events?.[history.events.length - 1];
      runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return runs;
  }
  const workflowIds: Record<string, string> = {};
  function write(name: string, workflowId: string, history: History): void {
    workflowIds[name] = workflowId;
    const json: unknown = JSON.parse(historyToJSON(history), (key, value: unknown) => (key === 'identity' ? IDENTITY : value));
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(json, null, 2) + '\n');
  }
  return {
    client,
    workflowIds,
    async saveRun(name, workflowId, firstRunId) {
      const runs = await runsOf(workflowId, firstRunId);
      if (runs.length !== 1) throw new Error(`${name}: expected one run of ${workflowId}, found ${runs.length}`);
      write(name, workflowId, runs[0]);
    },
    async saveContinuedRuns(name, workflowId, firstRunId) {
      const runs = await runsOf(workflowId, firstRunId);
      if (runs.length < 2) throw new Error(`${name}: expected ${workflowId} to continue-as-new, it ran once (give it more steps)`);
      write(`${name}-first-run`, workflowId, runs[0]);
      write(`${name}-last-run`, workflowId, runs[runs.length - 1]);
    },
  };
}

/** Ids that occur most often in `ids` first, ties by id. */
function byCountDescending(ids: string[]): string[] {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || a.localeCompare(b));
}

/** The IM ids (the children's ids hold them) of the sample's busiest user and group, and of its AVChatRoom. */
interface Picks {
  user: string;
  group: string;
  avChatRoom: string;
}

function pickEntities(bundle: string, store: StagingStore): Picks {
  const lines = (file: string) =>
    readFileSync(join(bundle, file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>);
  const groups = lines('groups.ndjson');
  const avChatRoom = groups.find((g) => g.type === 'AVChatRoom')?.id;
  if (!avChatRoom) throw new Error('the sample bundle has no AVChatRoom group');
  const importable = new Set(groups.filter((g) => g.type !== 'AVChatRoom').map((g) => g.id));
  const [user] = byCountDescending(lines('messages.ndjson').map((m) => m.from));
  const [group] = byCountDescending(
    lines('group-messages.ndjson')
      .map((m) => m.group)
      .filter((g) => importable.has(g)),
  );
  return { user: store.toImUserId(user), group: store.imGroupIdOf(group), avChatRoom: store.imGroupIdOf(avChatRoom) };
}

interface ImportCase {
  rec: Recorder;
  nativeConnection: NativeConnection;
  namespace: string;
  bundle: string;
  dir: string;
}

type ImportCaseBody = (prefix: string, picks: Picks, emulator: ImEmulator) => Promise<void>;

/** One import case: its own emulator, staging store, task queues and workers. */
async function withImportStack(c: ImportCase, name: string, body: ImportCaseBody): Promise<void> {
  const emulator = await startImEmulator({ ...IM, faults: { latencyMs: 20 } });
  const store = new StagingStore(join(c.dir, `${name}.sqlite`));
  const summary = await store.load(c.bundle);
  if (summary.errors) throw new Error(`${name}: the sample bundle has ${summary.errors} invalid records`);
  const prefix = `rec-${name}`;
  const workers = await createImportStack({
    connection: c.nativeConnection,
    namespace: c.namespace,
    taskQueuePrefix: prefix,
    store,
    im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
    limits: resolveApiLimits({}),
    accountListShape: false,
    activityConcurrency: 10,
  });
  const running = workers.run();
  try {
    await body(prefix, pickEntities(c.bundle, store), emulator);
  } finally {
    workers.shutdown();
    await running;
    store.close();
    await emulator.close();
  }
}

function migrationOptions(prefix: string, migrationId: string, over: Partial<MigrationOptions> = {}): MigrationOptions {
  return {
    migrationId,
    taskQueuePrefix: prefix,
    phases: [...IMPORT_PHASES],
    userConcurrency: 3,
    groupConcurrency: 3,
    accountConcurrency: 2,
    accountListShape: false,
    batchSizes: { accounts: 4, friends: 1000, members: 20 },
    ...over,
  };
}

function startMigration(rec: Recorder, options: MigrationOptions): Promise<WorkflowHandle<typeof migrationWorkflow>> {
  return rec.client.workflow.start(migrationWorkflow, {
    taskQueue: workflowTaskQueue(options.taskQueuePrefix),
    workflowId: options.migrationId,
    args: [{ options }],
  });
}

function verify(rec: Recorder, prefix: string, migrationId: string, historyEventBudget?: number): Promise<VerifyResult> {
  return runVerification(rec.client, prefix, { migrationId, userConcurrency: 3, groupConcurrency: 3, historyEventBudget });
}

function expectCompleted(name: string, result: MigrationResult): void {
  if (result.state !== 'completed') throw new Error(`${name}: the migration ended ${result.state}`);
}

async function recordCompleted(c: ImportCase): Promise<void> {
  await withImportStack(c, 'completed', async (prefix, picks) => {
    const id = 'migration-completed';
    expectCompleted(id, await (await startMigration(c.rec, migrationOptions(prefix, id))).result());
    await c.rec.saveRun('migration-completed', id);
    await c.rec.saveRun('user-import-completed', `${id}-user-${picks.user}`);
    await c.rec.saveRun('group-import-completed', `${id}-group-${picks.group}`);
    await c.rec.saveRun('group-import-unsupported', `${id}-group-${picks.avChatRoom}`);
    const verified = await verify(c.rec, prefix, id);
    if (!verified.passed) throw new Error(`${id}: its verification found differences`);
    await c.rec.saveRun('verify-completed', verified.verifyId);
    await c.rec.saveRun('verify-user-completed', `${verified.verifyId}-user-${picks.user}`);
    await c.rec.saveRun('verify-group-completed', `${verified.verifyId}-group-${picks.group}`);
  });
}

async function recordPausedResumed(c: ImportCase): Promise<void> {
  await withImportStack(c, 'paused', async (prefix, _picks, emulator) => {
    const id = 'migration-paused-resumed';
    const handle = await startMigration(c.rec, migrationOptions(prefix, id));
    // Paused while the users' message pages run, so the children are paused and resumed too.
    while ((emulator.counters().calls.importmsg ?? 0) < 1) await sleep(10);
    await handle.signal(pauseSignal);
    while ((await handle.query(progressQuery)).state !== 'paused') await sleep(20);
    await sleep(300);
    await handle.signal(resumeSignal);
    expectCompleted(id, await handle.result());
    await c.rec.saveRun('migration-paused-resumed', id);
    const children: string[] = [];
    for await (const wf of c.rec.client.workflow.list({ query: `WorkflowId STARTS_WITH '${id}-user-'` })) children.push(wf.workflowId);
    for (const child of children.sort()) {
      const events = (await c.rec.client.workflow.getHandle(child).fetchHistory()).events ?? [];
      if (events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === pauseSignal.name)) {
        return c.rec.saveRun('user-import-paused-resumed', child);
      }
    }
    throw new Error(`${id}: no user child was running when the pause came`);
  });
}

async function recordContinuedAsNew(c: ImportCase): Promise<void> {
  await withImportStack(c, 'continued', async (prefix, picks) => {
    const id = 'migration-continued-as-new';
    // Member pages of two, so the busiest group has steps enough to cross the budget too.
    const batchSizes = { accounts: 4, friends: 1000, members: 2 };
    const options = migrationOptions(prefix, id, { historyEventBudget: SMALL_HISTORY_BUDGET, batchSizes });
    expectCompleted(id, await (await startMigration(c.rec, options)).result());
    await c.rec.saveContinuedRuns('migration-continued-as-new', id);
    await c.rec.saveContinuedRuns('user-import-continued-as-new', `${id}-user-${picks.user}`);
    await c.rec.saveContinuedRuns('group-import-continued-as-new', `${id}-group-${picks.group}`);
    await verify(c.rec, prefix, id, SMALL_HISTORY_BUDGET);
    await c.rec.saveContinuedRuns('verify-continued-as-new', verifyWorkflowId(id));
  });
}

/**
 * Everything but the accounts first, so IM refuses the users' and groups' items and the failure
 * report fills; then the accounts, and retry-failed.
 */
async function recordFailedItems(c: ImportCase): Promise<void> {
  await withImportStack(c, 'failed', async (prefix, picks) => {
    const id = 'migration-failed-items';
    const withoutAccounts = migrationOptions(prefix, id, { phases: IMPORT_PHASES.filter((p) => p !== 'accounts') });
    const result = await (await startMigration(c.rec, withoutAccounts)).result();
    expectCompleted(id, result);
    if (!result.failuresByEntity.message || !result.failuresByEntity.group) {
      throw new Error(`${id}: expected failed messages and groups, got ${JSON.stringify(result.failuresByEntity)}`);
    }
    await c.rec.saveRun('migration-failed-items', id);
    await c.rec.saveRun('user-import-failed-items', `${id}-user-${picks.user}`);
    await c.rec.saveRun('group-import-failed-items', `${id}-group-${picks.group}`);
    // IM lacks what the failure report lists: the verification counts those apart.
    const verified = await verify(c.rec, prefix, id);
    await c.rec.saveRun('verify-failed-items', verified.verifyId);
    const accounts = migrationOptions(prefix, 'migration-accounts', { phases: ['accounts'] });
    expectCompleted(accounts.migrationId, await (await startMigration(c.rec, accounts)).result());
    const retryId = 'retry-failed';
    await c.rec.client.workflow.execute(retryFailuresWorkflow, {
      taskQueue: workflowTaskQueue(prefix),
      workflowId: retryId,
      args: [{ migrationId: id, taskQueuePrefix: prefix, batchSizes: withoutAccounts.batchSizes }],
    });
    await c.rec.saveRun('retry-failed', retryId);
    await c.rec.saveRun('group-import-retry-failed', `${retryId}-group-${picks.group}`);
  });
}

/**
 * The live sync: a conversation and a group with events from both sides, and a conversation whose
 * events queue while the sync is paused and cross continue-as-new after the resume. The entity
 * workflows are started here with a short idle time (the gateway's signal-with-start then finds
 * them running), so they end and their histories are whole.
 */
async function recordSync(rec: Recorder, nativeConnection: NativeConnection, namespace: string, dir: string): Promise<void> {
  const emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
  const store = new StagingStore(join(dir, 'sync.sqlite'));
  const prefix = 'rec-sync';
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'];
  await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).multiaccountImport({ Accounts: [alice, bob, carol, dave] });
  const coex = await startCoexistence({
    client: rec.client,
    connection: nativeConnection,
    namespace,
    taskQueuePrefix: prefix,
    store,
    im: emulator,
    imConfig: IM,
    legacySecret: 'record-histories-bridge-secret',
    callbackToken: 'record-histories-callback-token',
  });
  const startEntity = (entity: SyncEntity, over: Partial<EntitySyncInput> = {}) =>
    rec.client.workflow.start<typeof entitySyncWorkflow>('entitySyncWorkflow', {
      workflowId: syncEntityWorkflowId(prefix, entity),
      taskQueue: syncTaskQueue(prefix),
      args: [{ entity, idleCloseMs: ENTITY_IDLE_CLOSE_MS, ...over }],
    });
  try {
    await startSync(rec.client, prefix);
    // Until the control workflow has recorded 'running', applies find the sync not started.
    while (coex.journal.status() !== 'running') await sleep(50);

    const conversation = await startEntity({ kind: 'conversation', users: [alice, bob] });
    const group = await startEntity({ kind: 'group', groupId: 'rec-group' });
    await coex.legacy.asUser(alice).sendMessage(bob, text('hello from the old app'));
    await emulator.asUser(bob).sendC2C(alice, text('hello from the new app'));
    await coex.legacy.asUser(alice).createGroup({ groupId: 'rec-group', groupType: 'Public', name: 'Recorded group', members: [bob] });
    await coex.legacy.asUser(alice).sendGroupMessage('rec-group', text('a group message from the old app'));
    await coex.settled();
    await emulator.asUser(bob).sendGroupMsg('rec-group', text('a group message from the new app'));
    await coex.settled();

    const paused = await startEntity({ kind: 'conversation', users: [carol, dave] }, { historyEventBudget: 40 });
    await signalSync(rec.client, prefix, 'pause');
    for (let i = 0; i < 12; i++) await coex.legacy.asUser(carol).sendMessage(dave, text(`queued while paused #${i}`));
    await coex.legacy.eventsDrained();
    await signalSync(rec.client, prefix, 'resume');
    await coex.settled();

    for (const handle of [conversation, group, paused]) await handle.result();
    await rec.saveRun('entity-sync-conversation', conversation.workflowId, conversation.firstExecutionRunId);
    await rec.saveRun('entity-sync-group', group.workflowId, group.firstExecutionRunId);
    await rec.saveContinuedRuns('entity-sync-paused-continued-as-new', paused.workflowId, paused.firstExecutionRunId);
    // The control workflow runs for as long as the sync does: its history so far.
    await rec.saveRun('sync-control-paused-resumed', syncControlWorkflowId(prefix));
  } finally {
    await coex.close();
    store.close();
    await emulator.close();
  }
}

async function main(): Promise<void> {
  installQuietWorkerLogging('ERROR');
  const version = packageVersion();
  const outDir = join(HISTORIES_DIR, version);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const startedAt = Date.now();

  const dir = mkdtempSync(join(tmpdir(), 'tim-record-'));
  const bundle = join(dir, 'bundle');
  await writeSampleBundle(bundle, SAMPLE);
  const server = await startDevServer();
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const rec = recorder(new Client({ connection, namespace: server.namespace }), outDir);
  try {
    const c: ImportCase = { rec, nativeConnection, namespace: server.namespace, bundle, dir };
    // Each case has its own emulator, store and task queues, so they run side by side; all of them
    // end (and stop their workers) before the connections close.
    const cases = await Promise.allSettled([
      recordCompleted(c),
      recordPausedResumed(c),
      recordContinuedAsNew(c),
      recordFailedItems(c),
      recordSync(rec, nativeConnection, server.namespace, dir),
    ]);
    const failed = cases.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    if (failed.length) throw new Error(`recording failed:\n  ${failed.join('\n  ')}`);
  } finally {
    await nativeConnection.close();
    await connection.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const names = Object.keys(rec.workflowIds).sort();
  const workflowIds = Object.fromEntries(names.map((n) => [n, rec.workflowIds[n]]));
  writeFileSync(join(outDir, WORKFLOW_IDS_FILE), JSON.stringify(workflowIds, null, 2) + '\n');
  console.log(`Recorded ${names.length} histories in ${outDir} (${Math.round((Date.now() - startedAt) / 1000)} s)`);
  const missing = unrecordedWorkflowTypes(version);
  if (missing.length) {
    throw new Error(`no recorded history starts ${missing.join(', ')}: add a case for each in scripts/record-histories.ts`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
