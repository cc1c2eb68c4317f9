/**
 * `tim-migrate worker`: one worker process of the historical import. Run as many as you like on a
 * cluster: IM's rate limits are task-queue limits that the Temporal server enforces across them all.
 */
import { Command } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { createImportActivities, createStoreActivities } from '../../activities/import';
import { ImClient } from '../../im/client';
import { describeImConfig, loadImConfig } from '../../im/config';
import { StagingStore } from '../../legacy/store';
import { createImportWorkers } from '../../workers/import-workers';
import { loadDotEnv, loadTemporalSettings } from '../../workers/settings';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the import workers (workflows, store and one queue per IM API) until Ctrl-C')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .action(async (opts: { store?: string }) => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const imConfig = loadImConfig();
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      const connection = await NativeConnection.connect({ address: settings.TEMPORAL_ADDRESS });
      const workers = await createImportWorkers({
        connection,
        namespace: settings.TEMPORAL_NAMESPACE,
        taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
        limits: imConfig.limits,
        activityConcurrency: settings.TIM_ACTIVITY_CONCURRENCY,
        importActivities: createImportActivities({
          im: new ImClient(imConfig.client),
          source: store,
          failures: store,
          limits: imConfig.limits,
          accountListShape: imConfig.accountImportShape === 'AccountList',
        }),
        storeActivities: createStoreActivities({ source: store, failures: store }),
      });
      console.log(`workers on ${settings.TEMPORAL_ADDRESS} (namespace ${settings.TEMPORAL_NAMESPACE}, queues ${settings.TIM_TASK_QUEUE_PREFIX}-*); ${describeImConfig(imConfig)}`);
      process.once('SIGINT', () => workers.shutdown());
      process.once('SIGTERM', () => workers.shutdown());
      await workers.run();
      await connection.close();
      store.close();
    });
}
