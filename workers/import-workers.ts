/**
 * The workers of a historical import: one for the workflows, one for store-only activities, and
 * one per IM API queue whose `maxTaskQueueActivitiesPerSecond` is that API's rate limit (from the
 * im/ table and its settings) divided by the calls one activity makes. The server enforces these
 * limits across every worker on the queue, so adding worker processes never exceeds IM's limits.
 */
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { ApiLimitTable } from '../im/apis';
import type { ImportActivities, StoreActivities, VerifyActivities, VerifyStoreActivities } from '../activities/contracts';
import { createImportActivities, createStoreActivities } from '../activities/import';
import { createVerifyActivities } from '../activities/verify';
import { VerifyLedger } from '../legacy/verify-ledger';
import type { ImClient } from '../im/client';
import type { GroupHistoryHandoff } from '../im/messages';
import type { StagingStore } from '../legacy/store';
import {
  apiTaskQueue,
  callsPerActivity,
  IMPORT_APIS,
  storeTaskQueue,
  VERIFY_ACTIVITY_API,
  VERIFY_APIS,
  workflowTaskQueue,
  type ImportApi,
} from '../workflows/task-queues';
import { DEFAULT_WORKFLOW_THREADS } from './settings';

/** Which activity runs on which API's queue (retryFailedItems runs on every one: the workflow picks by entity). */
export const ACTIVITY_API: Record<Exclude<keyof ImportActivities, 'retryFailedItems'>, ImportApi> = {
  importAccountBatch: 'multiaccount_import',
  importProfile: 'portrait_set',
  importFriendsPage: 'friend_import',
  importMessagesPage: 'importmsg',
  importReadMarksPage: 'admin_set_msg_read',
  importGroup: 'import_group',
  holdGroupHistory: 'import_group',
  releaseGroupHistory: 'import_group',
  importGroupMembersPage: 'import_group_member',
  importGroupMessagesPage: 'import_group_msg',
  setUnreadCountsPage: 'set_unread_msg_num',
};

export interface ImportWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  limits: ApiLimitTable;
  importActivities: ImportActivities;
  storeActivities: StoreActivities;
  /** Verification's reads (one queue per read API) and store activities; no read workers without them. */
  verifyActivities?: VerifyActivities & VerifyStoreActivities;
  /** Activities of one API running at once in this process. */
  activityConcurrency: number;
  /** Run workflows here too (a deployment may split workflow and activity workers). */
  withWorkflows?: boolean;
  /** Threads running workflow tasks (TIM_WORKFLOW_THREADS). */
  workflowThreads?: number;
}

let workflowBundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling the workflow code takes seconds; do it once per process. */
export function importWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  workflowBundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  return workflowBundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** Per-queue activity rate: the API's calls per second over the calls one activity makes. */
export function queueActivitiesPerSecond(limits: ApiLimitTable, api: ImportApi): number {
  return limits[api].callsPerSecond / callsPerActivity(api);
}

export interface ImportWorkers {
  workers: Worker[];
  /** Runs until `shutdown` (or a fatal worker error). */
  run(): Promise<void>;
  shutdown(): void;
}

export async function createImportWorkers(opts: ImportWorkerOptions): Promise<ImportWorkers> {
  const { connection, namespace, taskQueuePrefix: prefix } = opts;
  const workers: Worker[] = [];
  if (opts.withWorkflows !== false) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: workflowTaskQueue(prefix),
        workflowBundle: await importWorkflowBundle(),
        // The store's page plans run here as local activities (workflows/control.ts, storePlans).
        activities: { planOwnedPages: opts.storeActivities.planOwnedPages },
        maxConcurrentWorkflowTaskExecutions: 100,
        workflowThreadPoolSize: opts.workflowThreads ?? DEFAULT_WORKFLOW_THREADS,
      }),
    );
  }
  workers.push(
    await Worker.create({
      connection,
      namespace,
      taskQueue: storeTaskQueue(prefix),
      activities: { ...opts.storeActivities, ...opts.verifyActivities } as unknown as Record<string, (...args: never[]) => unknown>,
      maxConcurrentActivityTaskExecutions: 20,
    }),
  );
  for (const api of IMPORT_APIS) {
    const activities = Object.fromEntries([
      ...(Object.keys(ACTIVITY_API) as Array<keyof typeof ACTIVITY_API>)
        .filter((name) => ACTIVITY_API[name] === api)
        .map((name) => [name, opts.importActivities[name]]),
      ['retryFailedItems', opts.importActivities.retryFailedItems],
    ]);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: apiTaskQueue(prefix, api),
        activities,
        maxConcurrentActivityTaskExecutions: opts.activityConcurrency,
        maxTaskQueueActivitiesPerSecond: queueActivitiesPerSecond(opts.limits, api),
      }),
    );
  }
  for (const api of opts.verifyActivities ? VERIFY_APIS : []) {
    const verify = opts.verifyActivities as VerifyActivities;
    const names = (Object.keys(VERIFY_ACTIVITY_API) as Array<keyof VerifyActivities>).filter((name) => VERIFY_ACTIVITY_API[name] === api);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: apiTaskQueue(prefix, api),
        activities: Object.fromEntries(names.map((name) => [name, verify[name]])),
        maxConcurrentActivityTaskExecutions: opts.activityConcurrency,
        // One read call per activity.
        maxTaskQueueActivitiesPerSecond: opts.limits[api].callsPerSecond,
      }),
    );
  }
  return {
    workers,
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => workers.forEach((w) => w.shutdown()),
  };
}

/** Everything the import workers need to build their activities from. */
export interface ImportStackOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  store: StagingStore;
  im: ImClient;
  limits: ApiLimitTable;
  accountListShape: boolean;
  activityConcurrency: number;
  workflowThreads?: number;
  /** TIM_GROUP_HISTORY_HANDOFF (im/messages.ts GROUP_HISTORY_HANDOFFS). */
  groupHistoryHandoff?: GroupHistoryHandoff;
}

/** The workers of one process, wired to a staging store and an IM client (the CLI worker, the demo, tests). */
export function createImportStack(opts: ImportStackOptions): Promise<ImportWorkers> {
  return createImportWorkers({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueuePrefix: opts.taskQueuePrefix,
    limits: opts.limits,
    activityConcurrency: opts.activityConcurrency,
    workflowThreads: opts.workflowThreads,
    importActivities: createImportActivities({
      im: opts.im,
      source: opts.store,
      failures: opts.store,
      runStates: opts.store,
      limits: opts.limits,
      accountListShape: opts.accountListShape,
      groupHistoryHandoff: opts.groupHistoryHandoff,
    }),
    storeActivities: createStoreActivities({ source: opts.store, failures: opts.store, runStates: opts.store }),
    verifyActivities: createVerifyActivities({ im: opts.im, store: opts.store, ledger: new VerifyLedger(opts.store.db) }),
  });
}
