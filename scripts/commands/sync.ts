/**
 * `tim-migrate gateway` and `tim-migrate sync start|status|pause|resume`: the live two-way sync.
 * The gateway receives IM callbacks and old-system events; `worker --sync` applies them; the
 * sync's run state lives in its control workflow, so pause and resume are Temporal signals.
 */
import { Client } from '@temporalio/client';
import { Command } from 'commander';
import { connectClient } from './migration';
import { createSyncGateway, MISSING_CALLBACK_TOKEN } from '../../gateway';
import { IM_CALLBACK_PATH } from '../../gateway/im-callbacks';
import { LOST_SIGNAL_SWEEP_MS, TemporalSyncDispatcher } from '../../gateway/sync-events';
import { loadImConfig } from '../../im/config';
import { LEGACY_EVENTS_PATH } from '../../legacy/bridge';
import { StagingStore } from '../../legacy/store';
import { SYNC_DIRECTIONS, SyncJournal, type SyncStats } from '../../legacy/sync-journal';
import { loadDotEnv, loadSyncSettings, loadTemporalSettings } from '../../workers/settings';
import { signalSync, startSync, syncRunStatus } from '../lib/sync-control';
import { connectNative } from '../lib/temporal-connection';

const DIRECTION_LABEL = { oldToNew: 'old → IM', newToOld: 'IM → old' } as const;

/** Why an entity's events wait, as far as the store can tell (the workflow's `syncState` query says for sure). */
export function pendingReason(entityId: string, status: SyncStats['status'], store?: StagingStore): string {
  if (status !== 'running') return status === 'paused' ? 'the sync is paused' : 'the sync has not been started (`tim-migrate sync start`)';
  const group = entityId.split('-sync-group-')[1];
  if (group !== undefined && store?.groupHistoryPending(group))
    return `group ${group} waits for its history import to end (run or finish the migration)`;
  return 'being applied or retrying (the other side may be unreachable: see the workflow in the Web UI)';
}

export function formatSyncStats(stats: SyncStats, store?: StagingStore): string {
  const rows = [['direction', 'received', 'applied', 'already imported', 'pending', 'echoes dropped', 'rejected', 'latency p50', 'p99']];
  for (const d of SYNC_DIRECTIONS) {
    const s = stats.directions[d];
    const l = stats.latencyMs[d];
    rows.push([
      DIRECTION_LABEL[d],
      String(s.received),
      String(s.applied),
      String(s.imported),
      String(s.pending),
      String(s.echo),
      String(s.rejected),
      l.count ? `${l.p50} ms` : '-',
      l.count ? `${l.p99} ms` : '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  '));
  for (const r of stats.rejectedReasons) lines.push(`rejected ${r.eventId} (${r.kind}): ${r.detail}`);
  for (const p of stats.oldestPending) {
    const ageS = Math.round((Date.now() - p.oldestReceivedAtMs) / 1000);
    lines.push(`waiting ${p.entityId}: ${p.pending} event(s), oldest ${ageS} s: ${pendingReason(p.entityId, stats.status, store)}`);
  }
  return lines.join('\n');
}

export function registerSyncCommands(program: Command): void {
  program
    .command('gateway')
    .description('run the sync gateway: IM callbacks and old-system events in, durable Temporal signals out (Ctrl-C closes it gracefully)')
    .option('--store <path>', 'staging store holding the id mapping and the sync journal (default: TIM_STORE)')
    .option('--insecure-callbacks', 'accept IM callbacks without TIM_CALLBACK_TOKEN (anyone who reaches the gateway could post them)')
    .action(async (opts: { store?: string; insecureCallbacks?: boolean }) => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const sync = loadSyncSettings();
      const im = loadImConfig();
      // Refused before anything is opened or connected.
      if (sync.TIM_CALLBACK_TOKEN === undefined && !opts.insecureCallbacks) throw new Error(MISSING_CALLBACK_TOKEN);
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      // The native (Rust) connection costs far less CPU per signal than the pure-JS one.
      const connection = await connectNative(settings.TEMPORAL_ADDRESS);
      const client = new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE });
      const dispatcher = new TemporalSyncDispatcher(client, new SyncJournal(store.db), settings.TIM_TASK_QUEUE_PREFIX);
      const stopSweeping = dispatcher.sweepEvery(LOST_SIGNAL_SWEEP_MS);
      const gateway = createSyncGateway({
        sdkAppId: im.client.sdkAppId,
        admin: im.client.admin,
        callbackToken: sync.TIM_CALLBACK_TOKEN,
        insecureCallbacks: opts.insecureCallbacks,
        callbackSources: sync.TIM_CALLBACK_ALLOWED_IPS,
        trustedProxies: sync.TIM_GATEWAY_TRUSTED_PROXIES,
        bodyLimitBytes: sync.TIM_GATEWAY_BODY_LIMIT_BYTES,
        legacySecret: sync.TIM_LEGACY_WEBHOOK_SECRET,
        sink: dispatcher,
        groups: store,
      });
      await gateway.app.listen({ host: sync.TIM_GATEWAY_HOST, port: sync.TIM_GATEWAY_PORT });
      const base = `http://${sync.TIM_GATEWAY_HOST}:${sync.TIM_GATEWAY_PORT}`;
      console.log(
        `gateway listening: IM callbacks ${base}${IM_CALLBACK_PATH}, old-system events ${base}${LEGACY_EVENTS_PATH}, health ${base}/health`,
      );
      console.log(
        sync.TIM_CALLBACK_TOKEN
          ? 'IM callback signatures are checked (TIM_CALLBACK_TOKEN set)'
          : 'warning: --insecure-callbacks: IM callback signatures are not checked, anyone who reaches the gateway can post callbacks',
      );
      if (sync.TIM_CALLBACK_ALLOWED_IPS) console.log(`IM callbacks accepted only from ${sync.TIM_CALLBACK_ALLOWED_IPS.entries.join(', ')}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      // Requests in flight finish first: anything acknowledged is already journalled and signalled.
      stopSweeping();
      await gateway.app.close();
      await connection.close();
      store.close();
      console.log('gateway closed');
    });

  const sync = program.command('sync').description('the live two-way sync (coexistence)');
  sync
    .command('start')
    .description('start applying live events (the gateway accepts and queues them from the moment it runs)')
    .action(async () => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const client = await connectClient(settings);
      const { workflowId, alreadyRunning } = await startSync(client, settings.TIM_TASK_QUEUE_PREFIX);
      console.log(
        alreadyRunning
          ? `sync already started (${workflowId}); status: ${await syncRunStatus(client, settings.TIM_TASK_QUEUE_PREFIX)}`
          : `sync started: ${workflowId}`,
      );
      await client.connection.close();
    });
  for (const action of ['pause', 'resume'] as const) {
    sync
      .command(action)
      .description(
        action === 'pause'
          ? 'stop writing to either side; events keep being accepted and queue in order'
          : 'apply queued events in order, then keep going',
      )
      .action(async () => {
        loadDotEnv();
        const settings = loadTemporalSettings();
        const client = await connectClient(settings);
        if ((await syncRunStatus(client, settings.TIM_TASK_QUEUE_PREFIX)) === 'not-started')
          throw new Error('the sync has not been started: run `tim-migrate sync start`');
        await signalSync(client, settings.TIM_TASK_QUEUE_PREFIX, action);
        console.log(`${action} signalled`);
        await client.connection.close();
      });
  }
  sync
    .command('replay-parked')
    .description('send again the events parked after failing too long (or, with --all, every rejected event), in their order')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option('--all', 'every rejected event, not only the parked ones')
    .action(async (opts: { store?: string; all?: boolean }) => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const client = await connectClient(settings);
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      try {
        const journal = new SyncJournal(store.db);
        const replayed = await replayRejected(journal, new TemporalSyncDispatcher(client, journal, settings.TIM_TASK_QUEUE_PREFIX), opts);
        console.log(`${replayed} event(s) sent again`);
      } finally {
        store.close();
        await client.connection.close();
      }
    });
  sync
    .command('status')
    .description('run state, events per direction (applied, pending, echoes dropped, rejected) and latency')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }) => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const client = await connectClient(settings);
      const status = await syncRunStatus(client, settings.TIM_TASK_QUEUE_PREFIX);
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      const stats = { ...new SyncJournal(store.db).stats(), status };
      // Only the form asked for: each pending reason reads the store once.
      const output = opts.json
        ? JSON.stringify(
            { ...stats, oldestPending: stats.oldestPending.map((p) => ({ ...p, reason: pendingReason(p.entityId, status, store) })) },
            null,
            2,
          )
        : `sync: ${status}\n${formatSyncStats(stats, store)}`;
      store.close();
      await client.connection.close();
      console.log(output);
    });
}

/** Reopens rejected events (parked ones, or all) and signals each to its entity again; returns how many. */
export async function replayRejected(
  journal: SyncJournal,
  dispatcher: TemporalSyncDispatcher,
  opts: { all?: boolean } = {},
): Promise<number> {
  const events = journal.reopenRejected(opts);
  for (const e of events) await dispatcher.resignal(e);
  return events.length;
}
