/**
 * `tim-migrate worker`: one worker process of the historical import. Run as many as you like on a
 * cluster: IM's rate limits are task-queue limits that the Temporal server enforces across them all.
 */
import { Command } from 'commander';
import { ImClient } from '../../im/client';
import { describeImConfig, loadImConfig } from '../../im/config';
import { StagingStore } from '../../legacy/store';
import { createImportStack } from '../../workers/import-workers';
import { installQuietWorkerLogging } from '../../workers/logging';
import { loadDotEnv, loadSyncSettings, loadTemporalSettings } from '../../workers/settings';
import { HttpLegacyWriter } from '../../legacy/bridge';
import { createSyncWorker } from '../../workers/sync-workers';
import { syncTaskQueue } from '../../workflows/sync-api';
import { connectNative } from '../lib/temporal-connection';

/** How often a worker process says how many attempts IM refused for rate (it has no progress view). */
const RATE_SUMMARY_EVERY_MS = 30_000;

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the import workers (workflows, store and one queue per IM API) until Ctrl-C')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option('--sync', 'also run the live sync worker (needs TIM_LEGACY_BRIDGE_URL and TIM_LEGACY_WEBHOOK_SECRET)')
    .option('--verbose', 'print each activity attempt IM refused for rate (by default, a count every 30 s)')
    .action(async (opts: { store?: string; sync?: boolean; verbose?: boolean }) => {
      loadDotEnv();
      installQuietWorkerLogging(undefined, { verbose: opts.verbose, summaryEveryMs: RATE_SUMMARY_EVERY_MS });
      const settings = loadTemporalSettings();
      const imConfig = loadImConfig();
      const syncSettings = opts.sync ? loadSyncSettings() : undefined;
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      const connection = await connectNative(settings.TEMPORAL_ADDRESS);
      const workers = await createImportStack({
        connection,
        namespace: settings.TEMPORAL_NAMESPACE,
        taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
        store,
        im: new ImClient(imConfig.client),
        limits: imConfig.limits,
        accountListShape: imConfig.accountImportShape === 'AccountList',
        groupHistoryHandoff: imConfig.groupHistoryHandoff,
        activityConcurrency: settings.TIM_ACTIVITY_CONCURRENCY,
        workflowThreads: settings.TIM_WORKFLOW_THREADS,
      });
      if (syncSettings) {
        const legacy = new HttpLegacyWriter({
          baseUrl: syncSettings.TIM_LEGACY_BRIDGE_URL,
          secret: syncSettings.TIM_LEGACY_WEBHOOK_SECRET,
        });
        const syncWorker = await createSyncWorker({
          connection,
          namespace: settings.TEMPORAL_NAMESPACE,
          taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
          store,
          im: new ImClient(imConfig.client),
          legacy,
          limits: imConfig.limits,
          workflowThreads: settings.TIM_WORKFLOW_THREADS,
          parkAfterMs: syncSettings.TIM_SYNC_PARK_AFTER_SECONDS * 1000,
          journalRetentionMs: syncSettings.TIM_SYNC_JOURNAL_RETENTION_DAYS * 86_400_000,
        });
        workers.workers.push(syncWorker);
        console.log(
          `sync worker on queue ${syncTaskQueue(settings.TIM_TASK_QUEUE_PREFIX)}, writing to the old system at ${syncSettings.TIM_LEGACY_BRIDGE_URL}`,
        );
      }
      console.log(
        `workers on ${settings.TEMPORAL_ADDRESS} (namespace ${settings.TEMPORAL_NAMESPACE}, queues ${settings.TIM_TASK_QUEUE_PREFIX}-*); ${describeImConfig(imConfig)}`,
      );
      process.once('SIGINT', () => workers.shutdown());
      process.once('SIGTERM', () => workers.shutdown());
      await workers.run();
      await connection.close();
      store.close();
    });
}
