/**
 * Sync benchmark: 50 events/s from each app for 60 s (one-to-one messages, group messages, group
 * profile changes) through the whole coexistence stack: the dev server, and in this process the
 * gateway and the sync worker; the IM emulator (its default 30 ms latency, real callbacks), the
 * old-system emulator and the users' traffic run in a second process (sync-sides.ts), as they are
 * remote services in real life. Everything shares this machine's cores.
 * Reports end-to-end latency (event received by the gateway → written on the other side) p50/p99
 * per direction, and lost, duplicated and echoed messages counted on both sides.
 * Goals: p99 < 500 ms; 0 lost, 0 duplicated, 0 echoed.
 *
 * The timed minute follows a warm-up of the same traffic (BENCH_SYNC_WARMUP_SECONDS, default 10),
 * as a sync that runs for weeks is warm: its entity workflows exist, its code is compiled, its
 * connections are open. The warm-up's own latency is reported beside it as the cold start, and
 * its messages are verified on both sides like the timed ones.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ImClient } from '../../im/client';
import { toImUserId } from '../../legacy/id-mapping';
import { StagingStore } from '../../legacy/store';
import { installQuietWorkerLogging } from '../../workers/logging';
import { startCoexistence, type LegacySide } from '../lib/coexistence';
import { formatTwoWayTable, verifyTwoWay, type SideStates, type TrafficLedger } from '../lib/coexistence-traffic';
import type { SidesCommand } from './sync-sides';
import { forkFarSide } from './far-side';
import { startDevServer } from '../lib/dev-server';
import { startSync } from '../lib/sync-control';
import { formatSyncStats } from '../commands/sync';

const RATE_PER_SIDE = Number(process.env.BENCH_SYNC_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SYNC_SECONDS ?? 60);
const WARM_UP_SECONDS = Number(process.env.BENCH_SYNC_WARMUP_SECONDS ?? 10);
const USERS = 40;

async function main(): Promise<void> {
  installQuietWorkerLogging('ERROR');
  const im = { sdkAppId: 1400000888, secretKey: randomBytes(16).toString('hex'), admin: 'administrator' };
  const legacySecret = randomBytes(24).toString('hex');
  const server = await startDevServer({ log: () => undefined });
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: server.env.connection, namespace: server.namespace });
  const far = forkFarSide<SidesCommand>(join(__dirname, 'sync-sides.ts'));
  const { imBaseUrl, legacyBaseUrl } = await far.call<{ imBaseUrl: string; legacyBaseUrl: string }>({
    cmd: 'start',
    args: { im, legacySecret },
  });
  const store = new StagingStore(join(mkdtempSync(join(tmpdir(), 'tim-bench-sync-')), 'staging.sqlite'));
  // Half the old ids are not valid IM ids, so both directions translate through the id mapping.
  const users = Array.from({ length: USERS }, (_, i) => {
    const oldId = i % 2 ? `user ${i}` : `user-${i}`;
    const imId = toImUserId(oldId);
    store.recordIdMapping('user', oldId, imId);
    return { oldId, imId };
  });
  await new ImClient({ ...im, baseUrl: imBaseUrl }).multiaccountImport({ Accounts: users.map((u) => u.imId) });
  const coex = await startCoexistence<LegacySide>({
    client,
    connection,
    namespace: server.namespace,
    taskQueuePrefix: 'bench-sync',
    store,
    im: {
      baseUrl: imBaseUrl,
      setCallback: (url, token) => void far.call({ cmd: 'setCallback', args: { url: url ?? '', token: token ?? '' } }),
      callbacksDrained: () => far.call({ cmd: 'imDrained' }),
    },
    legacy: {
      baseUrl: legacyBaseUrl,
      setGatewayUrl: (url) => void far.call({ cmd: 'setGatewayUrl', args: { url: url ?? '' } }),
      eventsDrained: () => far.call({ cmd: 'legacyDrained' }),
      close: () => far.call({ cmd: 'close' }),
    },
    imConfig: im,
    legacySecret,
    callbackToken: randomBytes(16).toString('hex'),
  });
  await startSync(client, 'bench-sync');

  const plan = { users, ratePerSide: RATE_PER_SIDE, seconds: SECONDS, tag: 'bench' };
  const setup = await far.call<TrafficLedger>({ cmd: 'createTrafficGroups', args: plan });
  await coex.settled();
  const warmUpPlan = { ...plan, seconds: WARM_UP_SECONDS, tag: 'warm-up' };
  const warmUp = await far.call<TrafficLedger>({
    cmd: 'sendTraffic',
    args: { plan: warmUpPlan, ledger: { ...setup, tag: warmUpPlan.tag } },
  });
  await coex.settled(300_000);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const ledger = await far.call<TrafficLedger>({ cmd: 'sendTraffic', args: { plan, ledger: setup } });
  const trafficSeconds = (ledger.endedAtMs - ledger.startedAtMs) / 1000;
  loopDelay.disable();
  await coex.settled(300_000);
  // The timed traffic only: the set-up (creating the groups on both sides) is not part of it.
  const stats = coex.journal.stats({ sinceMs: ledger.startedAtMs });
  const coldStart = coex.journal.stats({ sinceMs: warmUp.startedAtMs, untilMs: ledger.startedAtMs }).latencyMs;
  const states = await far.call<SideStates>({ cmd: 'states' });
  const { rows, groupsEqual } = verifyTwoWay(states, ledger);
  const warmUpRows = verifyTwoWay(states, warmUp).rows;
  console.log(`warm-up (${WARM_UP_SECONDS} s):\n${formatTwoWayTable(warmUpRows)}\ntimed (${SECONDS} s):\n${formatTwoWayTable(rows)}`);
  console.log(formatSyncStats(stats));
  const sent = (s: typeof ledger.sentFromOld) => s.c2c.length + s.group.length + s.groupChanges;
  // Lost, duplicated and echoed count the warm-up's messages too. Rows 0 and 2 are App 1.0 → IM,
  // 1 and 3 IM → App 1.0 (verifyTwoWay), for the timed traffic and the warm-up alike.
  const allRows = [...rows, ...warmUpRows];
  const sum = (k: 'lost' | 'duplicated' | 'echoed', of = allRows) => of.reduce((a, r) => a + r[k], 0);
  const lostDupEcho = (direction: 0 | 1) => {
    const of = allRows.filter((_, i) => i % 2 === direction);
    return (['lost', 'duplicated', 'echoed'] as const).map((k) => sum(k, of)).join(' / ');
  };
  const result = {
    date: new Date().toISOString(),
    machine: 'shared 2-core; single run',
    targetPerSide: { eventsPerSecond: RATE_PER_SIDE, seconds: SECONDS, warmUpSeconds: WARM_UP_SECONDS },
    sentPerSide: { oldApp: sent(ledger.sentFromOld), newApp: sent(ledger.sentFromIm) },
    eventLoopDelayMs: {
      p50: Number((loopDelay.percentile(50) / 1e6).toFixed(1)),
      p99: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
    },
    achievedEventsPerSecondPerSide: Number((sent(ledger.sentFromOld) / trafficSeconds).toFixed(1)),
    latencyMs: stats.latencyMs,
    coldStartLatencyMs: coldStart,
    messages: { lost: sum('lost'), duplicated: sum('duplicated'), echoed: sum('echoed') },
    groupsEqualOnBothSides: groupsEqual,
    echoesDropped: { oldToNew: stats.directions.oldToNew.echo, newToOld: stats.directions.newToOld.echo },
    rejected: stats.directions.oldToNew.rejected + stats.directions.newToOld.rejected,
    goals: { p99Ms: 500, lost: 0, duplicated: 0, echoed: 0 },
    met:
      Math.max(stats.latencyMs.oldToNew.p99, stats.latencyMs.newToOld.p99) < 500 &&
      sum('lost') + sum('duplicated') + sum('echoed') === 0 &&
      groupsEqual,
  };
  // The goal's load goes to sync.json; other loads (BENCH_SYNC_RATE / BENCH_SYNC_SECONDS) beside it.
  const file = RATE_PER_SIDE === 50 && SECONDS === 60 ? 'sync.json' : `sync-${RATE_PER_SIDE}x${SECONDS}s.json`;
  writeFileSync(join(__dirname, '..', '..', 'bench', 'results', file), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  console.log(
    [
      '| measure | App 1.0 → IM | IM → App 1.0 | goal |',
      '|---|---|---|---|',
      `| latency p50 | ${stats.latencyMs.oldToNew.p50} ms | ${stats.latencyMs.newToOld.p50} ms | |`,
      `| latency p99 | ${stats.latencyMs.oldToNew.p99} ms | ${stats.latencyMs.newToOld.p99} ms | < 500 ms |`,
      `| events sent | ${result.sentPerSide.oldApp} | ${result.sentPerSide.newApp} | 50/s × 60 s |`,
      `| cold start (the warm-up's ${WARM_UP_SECONDS} s): p50 / p99 | ${coldStart.oldToNew.p50} / ${coldStart.oldToNew.p99} ms | ${coldStart.newToOld.p50} / ${coldStart.newToOld.p99} ms | |`,
      `| lost / duplicated / echoed messages (warm-up included) | ${lostDupEcho(0)} | ${lostDupEcho(1)} | 0 / 0 / 0 |`,
    ].join('\n'),
  );
  await coex.close();
  far.exit();
  await connection.close();
  store.close();
  await server.stop();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
