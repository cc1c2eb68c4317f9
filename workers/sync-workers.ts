/**
 * The sync worker: entity and control workflows on the sync queue, with the sync activities run
 * as local activities beside them (one server round trip per event keeps latency low).
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSyncActivities } from '../activities/sync';
import type { ApiLimitTable } from '../im/apis';
import type { ImClient } from '../im/client';
import type { LegacyWriter } from '../legacy/bridge';
import type { StagingStore } from '../legacy/store';
import { SyncJournal } from '../legacy/sync-journal';
import { syncTaskQueue } from '../workflows/sync-api';
import { importWorkflowBundle } from './import-workers';
import { DEFAULT_WORKFLOW_THREADS } from './settings';

export interface SyncWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  store: StagingStore;
  im: ImClient;
  legacy: LegacyWriter;
  limits: ApiLimitTable;
  /** Threads running workflow tasks (TIM_WORKFLOW_THREADS). */
  workflowThreads?: number;
  /** See SyncDeps.lingerMs. */
  lingerMs?: number;
  /** See SyncDeps.parkAfterMs (TIM_SYNC_PARK_AFTER_SECONDS). */
  parkAfterMs?: number;
  /** Settled events keep their content this long (TIM_SYNC_JOURNAL_RETENTION_DAYS); default JOURNAL_RETENTION_MS. */
  journalRetentionMs?: number;
}

/** Thirty days: past IM's default roaming retention (7 days), so a reconciliation can still read what it compares. */
export const JOURNAL_RETENTION_MS = 30 * 86_400_000;
const JOURNAL_PRUNE_EVERY_MS = 3_600_000;

export async function createSyncWorker(opts: SyncWorkerOptions): Promise<Worker> {
  const journal = new SyncJournal(opts.store.db);
  const retentionMs = opts.journalRetentionMs ?? JOURNAL_RETENTION_MS;
  const prune = () => journal.dropSettledPayloads(Date.now() - retentionMs);
  prune();
  // Unref'd: the hourly prune never keeps a process alive that is otherwise done.
  setInterval(prune, JOURNAL_PRUNE_EVERY_MS).unref();
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: syncTaskQueue(opts.taskQueuePrefix),
    workflowBundle: await importWorkflowBundle(),
    activities: createSyncActivities({
      im: opts.im,
      legacy: opts.legacy,
      store: opts.store,
      journal,
      limits: opts.limits,
      lingerMs: opts.lingerMs,
      parkAfterMs: opts.parkAfterMs,
    }) as unknown as Record<string, (...args: never[]) => unknown>,
    maxConcurrentWorkflowTaskExecutions: 200,
    maxConcurrentLocalActivityExecutions: 200,
    maxConcurrentActivityTaskExecutions: 20,
    maxCachedWorkflows: 2000,
    workflowThreadPoolSize: opts.workflowThreads ?? DEFAULT_WORKFLOW_THREADS,
  });
}
