/**
 * The set-up the end-to-end tests share: the dev server, an IM emulator and a temp dir; the
 * import's real workers over a staging store; a migration run to its end. Each test still says
 * what it varies (phases, concurrency, batch sizes, an IM client with its own key or timeout).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duration } from '@temporalio/common';
import { startImEmulator, type ImEmulator } from '../../emulator/im';
import { resolveApiLimits } from '../../im/apis';
import { writeSampleBundle, type SampleOptions } from '../../legacy/sample';
import { StagingStore } from '../../legacy/store';
import { IMPORT_PHASES, type MigrationOptions, type MigrationResult } from '../../workflows/api';
import { migrationWorkflow } from '../../workflows/migration';
import { workflowTaskQueue } from '../../workflows/task-queues';
import { createImportStack, type ImportStackOptions, type ImportWorkers } from '../../workers/import-workers';
import { connectTestTemporal, type TestTemporal } from './temporal';

/** The IM app a test file's emulator and clients share. */
export interface TestImApp {
  sdkAppId: number;
  secretKey: string;
  admin: string;
}

export interface ImTestbed {
  temporal: TestTemporal;
  emulator: ImEmulator;
  dir: string;
}

/** A connection to the suite's dev server, an IM emulator of `app` that answers at once, and a fresh temp dir. */
export async function startImTestbed(app: TestImApp, dirPrefix: string): Promise<ImTestbed> {
  const temporal = await connectTestTemporal();
  try {
    const emulator = await startImEmulator({ ...app, faults: { latencyMs: 0 } });
    return { temporal, emulator, dir: mkdtempSync(join(tmpdir(), dirPrefix)) };
  } catch (e) {
    await temporal.close();
    throw e;
  }
}

/** Closes what startImTestbed started; either part is missing when the file's beforeAll failed. */
export async function closeImTestbed(testbed: Partial<ImTestbed>): Promise<void> {
  await testbed.emulator?.close();
  await testbed.temporal?.close();
}

/** A sample bundle written to `dir`/bundle and loaded, with no error, into a new store at `dir`/staging.sqlite. */
export async function loadSampleStore(dir: string, sample: SampleOptions): Promise<StagingStore> {
  await writeSampleBundle(join(dir, 'bundle'), sample);
  const store = new StagingStore(join(dir, 'staging.sqlite'));
  expect((await store.load(join(dir, 'bundle'))).errors).toBe(0);
  return store;
}

export interface RunningImportWorkers extends ImportWorkers {
  /** What `run()` returned: settles once the workers have shut down. */
  running: Promise<void>;
  /** Shuts the workers down and waits until they have. */
  stop(): Promise<void>;
}

/**
 * The import's workers on `taskQueuePrefix` over `store`, running. Unless the test says otherwise:
 * the API table's default limits, accounts without AccountList, 10 activities at once.
 */
export async function startImportWorkers(
  temporal: TestTemporal,
  opts: Pick<ImportStackOptions, 'taskQueuePrefix' | 'store' | 'im'> & Partial<ImportStackOptions>,
): Promise<RunningImportWorkers> {
  const workers = await createImportStack({
    connection: temporal.nativeConnection,
    namespace: temporal.namespace,
    limits: resolveApiLimits({}),
    accountListShape: false,
    activityConcurrency: 10,
    ...opts,
  });
  const running = workers.run();
  return {
    ...workers,
    running,
    async stop() {
      workers.shutdown();
      await running;
    },
  };
}

/**
 * Options of a migration on `taskQueuePrefix`; unless the test says otherwise: every import phase,
 * 4 users and 4 groups at once, one account batch at a time, batches of 100 accounts, 1000 friends, 20 members.
 */
export function testMigrationOptions(
  taskQueuePrefix: string,
  over: Pick<MigrationOptions, 'migrationId'> & Partial<MigrationOptions>,
): MigrationOptions {
  return {
    taskQueuePrefix,
    phases: [...IMPORT_PHASES],
    userConcurrency: 4,
    groupConcurrency: 4,
    accountConcurrency: 1,
    accountListShape: false,
    batchSizes: { accounts: 100, friends: 1000, members: 20 },
    ...over,
  };
}

/** Runs the migration on its prefix's workflow queue, its id the migration's, to its end (whatever state that is). */
export function runMigration(
  temporal: TestTemporal,
  options: MigrationOptions,
  limits: { workflowExecutionTimeout?: Duration } = {},
): Promise<MigrationResult> {
  return temporal.client.workflow.execute(migrationWorkflow, {
    taskQueue: workflowTaskQueue(options.taskQueuePrefix),
    workflowId: options.migrationId,
    args: [{ options }],
    ...limits,
  });
}
