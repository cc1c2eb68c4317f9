/**
 * The whole coexistence set-up in one process, on emulators: sync journal, gateway, sync worker,
 * old-system emulator, and the IM emulator's callbacks pointed at the gateway. The demo, the
 * tests and the sync benchmark use it; production runs the same parts as separate processes
 * (`tim-migrate gateway`, `tim-migrate worker`).
 */
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { ImEmulator } from '../../emulator/im';
import { startLegacyEmulator, type LegacyEmulator } from '../../emulator/legacy';
import { createSyncGateway, type SyncGateway } from '../../gateway';
import { IM_CALLBACK_PATH } from '../../gateway/im-callbacks';
import { LOST_SIGNAL_SWEEP_MS, TemporalSyncDispatcher } from '../../gateway/sync-events';
import { resolveApiLimits } from '../../im/apis';
import { ImClient } from '../../im/client';
import { HttpLegacyWriter } from '../../legacy/bridge';
import type { StagingStore } from '../../legacy/store';
import { SyncJournal, type SyncStats } from '../../legacy/sync-journal';
import { createSyncWorker } from '../../workers/sync-workers';

/** What the set-up needs of each emulator: in this process, or behind IPC in another (the benchmark). */
export type ImSide = Pick<ImEmulator, 'baseUrl' | 'setCallback' | 'callbacksDrained'>;
export type LegacySide = Pick<LegacyEmulator, 'baseUrl' | 'setGatewayUrl' | 'eventsDrained' | 'close'>;

export interface CoexistenceOptions<L extends LegacySide> {
  client: Client;
  connection: NativeConnection;
  namespace: string;
  taskQueuePrefix: string;
  store: StagingStore;
  im: ImSide;
  /** The old-system emulator; by default one is started in this process. */
  legacy?: L;
  imConfig: { sdkAppId: number; secretKey: string; admin: string };
  legacySecret: string;
  callbackToken: string;
  /** See SyncDeps.lingerMs. */
  lingerMs?: number;
  /** See SyncDeps.parkAfterMs. */
  parkAfterMs?: number;
}

export interface Coexistence<L extends LegacySide = LegacyEmulator> {
  journal: SyncJournal;
  legacy: L;
  /** Journals and signals events; it also sweeps lost signals (LOST_SIGNAL_SWEEP_MS). */
  dispatcher: TemporalSyncDispatcher;
  gatewayUrl: string;
  gateway(): SyncGateway;
  /** Closes the gateway gracefully, keeps it down for `downMs`, and starts it again on the same port. */
  restartGateway(downMs: number): Promise<void>;
  /** Waits until both emulators have delivered everything and the journal holds no pending event. */
  settled(timeoutMs?: number): Promise<SyncStats>;
  close(): Promise<void>;
}

export async function startCoexistence<L extends LegacySide = LegacyEmulator>(o: CoexistenceOptions<L>): Promise<Coexistence<L>> {
  const journal = new SyncJournal(o.store.db);
  const legacy = o.legacy ?? ((await startLegacyEmulator({ secret: o.legacySecret })) as unknown as L);
  const worker = await createSyncWorker({
    connection: o.connection,
    namespace: o.namespace,
    taskQueuePrefix: o.taskQueuePrefix,
    store: o.store,
    im: new ImClient({ ...o.imConfig, baseUrl: o.im.baseUrl, timeoutMs: 5000 }),
    legacy: new HttpLegacyWriter({ baseUrl: legacy.baseUrl, secret: o.legacySecret }),
    limits: resolveApiLimits({}),
    lingerMs: o.lingerMs,
    parkAfterMs: o.parkAfterMs,
  });
  const running = worker.run();
  // The gateway signals through the worker's native (Rust) connection: far less CPU per signal than grpc-js.
  const sink = new TemporalSyncDispatcher(new Client({ connection: o.connection, namespace: o.namespace }), journal, o.taskQueuePrefix);
  const newGateway = () =>
    createSyncGateway({
      sdkAppId: o.imConfig.sdkAppId,
      admin: o.imConfig.admin,
      callbackToken: o.callbackToken,
      legacySecret: o.legacySecret,
      sink,
      groups: o.store,
    });
  let gateway = newGateway();
  await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (gateway.app.server.address() as { port: number }).port;
  const gatewayUrl = `http://127.0.0.1:${port}`;
  o.im.setCallback(`${gatewayUrl}${IM_CALLBACK_PATH}`, o.callbackToken);
  legacy.setGatewayUrl(gatewayUrl);

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const stopSweeping = sink.sweepEvery(LOST_SIGNAL_SWEEP_MS);
  return {
    journal,
    legacy,
    dispatcher: sink,
    gatewayUrl,
    gateway: () => gateway,
    async restartGateway(downMs) {
      await gateway.app.close();
      await sleep(downMs);
      gateway = newGateway();
      await gateway.app.listen({ host: '127.0.0.1', port });
    },
    async settled(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let quietPolls = 0;
      for (;;) {
        await legacy.eventsDrained();
        await o.im.callbacksDrained();
        const stats = journal.stats();
        const pending = stats.directions.oldToNew.pending + stats.directions.newToOld.pending;
        quietPolls = pending === 0 ? quietPolls + 1 : 0;
        // Twice quiet: a write applied just now may still cause an echo or callback.
        if (quietPolls >= 2) return stats;
        if (Date.now() > deadline) {
          const oldest = stats.oldestPending.map(
            (p) => `${p.entityId} (${p.pending}, oldest ${Math.round((Date.now() - p.oldestReceivedAtMs) / 1000)} s)`,
          );
          throw new Error(`sync not settled after ${timeoutMs} ms: ${pending} events pending, in ${oldest.join(', ')}`);
        }
        await sleep(200);
      }
    },
    async close() {
      stopSweeping();
      await gateway.app.close();
      worker.shutdown();
      await running;
      await legacy.close();
    },
  };
}
