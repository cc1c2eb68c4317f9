/**
 * `tim-migrate worker`: one worker process of the historical import. Run as many as you like on a
 * cluster: IM's rate limits are task-queue limits that the Temporal server enforces across them all.
 */
import { Command } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { ImClient } from '../../im/client';
import { describeImConfig, loadImConfig } from '../../im/config';
import { StagingStore } from '../../legacy/store';
import { createImportStack } from '../../workers/import-workers';
import { installQuietWorkerLogging } from '../../workers/logging';
import { loadDotEnv, loadTemporalSettings } from '../../workers/settings';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the import workers (workflows, store and one queue per IM API) until Ctrl-C')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .action(async (opts: { store?: string }) => {
      loadDotEnv();
      installQuietWorkerLogging();
      const settings = loadTemporalSettings();
      const imConfig = loadImConfig();
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      const connection = await NativeConnection.connect({ address: settings.TEMPORAL_ADDRESS });
      const workers = await createImportStack({
        connection,
        namespace: settings.TEMPORAL_NAMESPACE,
        taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
        store,
        im: new ImClient(imConfig.client),
        limits: imConfig.limits,
        accountListShape: imConfig.accountImportShape === 'AccountList',
        activityConcurrency: settings.TIM_ACTIVITY_CONCURRENCY,
      });
      console.log(`workers on ${settings.TEMPORAL_ADDRESS} (namespace ${settings.TEMPORAL_NAMESPACE}, queues ${settings.TIM_TASK_QUEUE_PREFIX}-*); ${describeImConfig(imConfig)}`);
      process.once('SIGINT', () => workers.shutdown());
      process.once('SIGTERM', () => workers.shutdown());
      await workers.run();
      await connection.close();
      store.close();
    });
}
