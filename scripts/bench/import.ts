/**
 * Import benchmarks, each one run on the same machine: a dev server, the real workers in this
 * process, and the IM emulator in a process of its own (scripts/bench/im-side.ts), as IM is a
 * remote service and its CPU must not queue on the workers' event loop:
 *   - overlap: the sample dataset's total time against the slowest API's bound (calls it needs over
 *     its rate) (goal ≤ 1.2×), measured on a second run after a warm-up run that is reported too;
 *   - rate use: one-to-one import with the emulator's default limits and latency: importmsg calls
 *     per second against its 200/s, over the whole run and in the steady state (from 5 % to 95 % of
 *     the calls, leaving out ramp-up and tail), and the share refused for rate (goals ≥ 90 %, < 1 %);
 *   - overhead: limits lifted and no latency, API calls per second through the whole stack beside
 *     a plain concurrent script making the same calls.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { IM_API_NAMES, resolveApiLimits, type ApiLimitTable, type ImApiName } from '../../im/apis';
import { ImClient } from '../../im/client';
import { SYNC_FROM_OLD_SYSTEM } from '../../im/messages';
import { importedMessageIdentity } from '../../legacy/id-mapping';
import { writeSampleBundle, SAMPLE_DEFAULTS } from '../../legacy/sample';
import { StagingStore } from '../../legacy/store';
import { IMPORT_PHASES, type ImportPhase } from '../../workflows/api';
import { migrationWorkflow } from '../../workflows/migration';
import { workflowTaskQueue } from '../../workflows/task-queues';
import { createImportStack } from '../../workers/import-workers';
import { installQuietWorkerLogging } from '../../workers/logging';
import { startDevServer } from '../lib/dev-server';
import { forkImSide, type RemoteImEmulator } from './im-side';

const IM = { sdkAppId: 1400000999, secretKey: randomBytes(16).toString('hex'), admin: 'administrator' };
const totalCalls = (c: Partial<Record<ImApiName, number>>) => Object.values(c).reduce((a, b) => a + (b ?? 0), 0);

async function runMigration(
  env: { client: Client; connection: NativeConnection; namespace: string },
  emulator: RemoteImEmulator,
  store: StagingStore,
  limits: ApiLimitTable,
  phases: ImportPhase[],
  prefix: string,
): Promise<number> {
  const workers = await createImportStack({
    connection: env.connection,
    namespace: env.namespace,
    taskQueuePrefix: prefix,
    store,
    im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
    limits,
    accountListShape: false,
    activityConcurrency: 50,
  });
  const running = workers.run();
  const started = Date.now();
  try {
    await env.client.workflow.execute(migrationWorkflow, {
      taskQueue: workflowTaskQueue(prefix),
      workflowId: `${prefix}-run`,
      args: [
        {
          options: {
            migrationId: `${prefix}-run`,
            taskQueuePrefix: prefix,
            phases,
            userConcurrency: 200,
            groupConcurrency: 50,
            accountConcurrency: 4,
            accountListShape: false,
            batchSizes: { accounts: 100, friends: 1000, members: 20 },
          },
        },
      ],
    });
    return (Date.now() - started) / 1000;
  } finally {
    workers.shutdown();
    await running;
  }
}

async function loadSample(dir: string, opts: Parameters<typeof writeSampleBundle>[1]): Promise<StagingStore> {
  await writeSampleBundle(join(dir, 'bundle'), opts);
  const store = new StagingStore(join(dir, 'staging.sqlite'));
  await store.load(join(dir, 'bundle'));
  return store;
}

async function main(): Promise<void> {
  installQuietWorkerLogging('ERROR');
  const server = await startDevServer({ log: () => undefined });
  const connection = await NativeConnection.connect({ address: server.address });
  const env = {
    client: new Client({ connection: server.env.connection, namespace: server.namespace }),
    connection,
    namespace: server.namespace,
  };
  const dir = mkdtempSync(join(tmpdir(), 'tim-bench-import-'));
  const defaults = resolveApiLimits({});

  // 1. Overlap: the demo's sample dataset, every phase, twice into an emptied IM, first in the run
  // (after the long rate-use run below, the dev server stays busy for a while: 1.4 CPU-seconds in
  // the next 20 s). The first run is a warm-up, reported beside the measured one.
  const imSide = forkImSide();
  const emulator = await imSide.start({ ...IM });
  const sampleStore = await loadSample(join(dir, 'sample'), { seed: 1, ...SAMPLE_DEFAULTS });
  const sampleRun = async (prefix: string) => {
    await emulator.reset();
    const totalSeconds = await runMigration(env, emulator, sampleStore, defaults, [...IMPORT_PHASES], prefix);
    const { calls } = await emulator.counters();
    const bounds = IM_API_NAMES.filter((api) => (calls[api] ?? 0) > 0).map((api) => ({
      api,
      calls: calls[api] ?? 0,
      seconds: (calls[api] ?? 0) / defaults[api].callsPerSecond,
    }));
    const slowest = bounds.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    return { totalSeconds, slowestApi: slowest.api, slowestBoundSeconds: slowest.seconds, ratio: totalSeconds / slowest.seconds, bounds };
  };
  const warmUp = await sampleRun('bench-overlap-warm-up');
  const overlap = { ...(await sampleRun('bench-overlap')), warmUp: { totalSeconds: warmUp.totalSeconds, ratio: warmUp.ratio } };
  console.log('overlap', { ...overlap, bounds: undefined });

  // 2. Rate use: one-to-one history at importmsg's documented 200/s, emulator latency 30 ms.
  await emulator.reset();
  const c2cStore = await loadSample(join(dir, 'c2c'), { seed: 11, users: 400, groups: 0, messages: 12_000, groupMessages: 0 });
  await runMigration(env, emulator, c2cStore, defaults, ['accounts'], 'bench-c2c-accounts');
  const before = await emulator.counters();
  // Calls so far, every 200 ms, to tell the steady rate from ramp-up and tail.
  const samples: Array<{ ms: number; calls: number }> = [];
  const c2cStarted = Date.now();
  const sampler = setInterval(() => {
    const ms = Date.now() - c2cStarted;
    void emulator.counters().then((c) => samples.push({ ms, calls: (c.calls.importmsg ?? 0) - (before.calls.importmsg ?? 0) }));
  }, 200);
  const c2cSeconds = await runMigration(env, emulator, c2cStore, defaults, ['messages'], 'bench-c2c');
  clearInterval(sampler);
  const after = await emulator.counters();
  const importmsgCalls = (after.calls.importmsg ?? 0) - (before.calls.importmsg ?? 0);
  const refused = (after.rejectedForRate.importmsg ?? 0) - (before.rejectedForRate.importmsg ?? 0);
  const reached = (share: number) => samples.find((s) => s.calls >= share * importmsgCalls) ?? samples[samples.length - 1];
  const [from, to] = [reached(0.05), reached(0.95)];
  const steadyCallsPerSecond = (to.calls - from.calls) / ((to.ms - from.ms) / 1000);
  const limit = defaults.importmsg.callsPerSecond;
  const rateUse = {
    messages: 12_000,
    seconds: c2cSeconds,
    callsPerSecond: importmsgCalls / c2cSeconds,
    limit,
    share: importmsgCalls / c2cSeconds / limit,
    steadyCallsPerSecond,
    steadyShare: steadyCallsPerSecond / limit,
    refusedShare: refused / importmsgCalls,
  };
  console.log('rate use', rateUse);

  await emulator.close();

  // 3. Overhead: limits lifted, no latency; the stack against a plain concurrent script.
  const fast = await imSide.start({
    ...IM,
    faults: { latencyMs: 0 },
    limits: Object.fromEntries(IM_API_NAMES.map((a) => [a, { callsPerSecond: 1_000_000 }])),
  });
  const lifted = Object.fromEntries(IM_API_NAMES.map((a) => [a, { ...defaults[a], callsPerSecond: 100_000 }])) as ApiLimitTable;
  await runMigration(env, fast, c2cStore, lifted, ['accounts'], 'bench-fast-accounts');
  const fastBefore = totalCalls((await fast.counters()).calls);
  const stackSeconds = await runMigration(env, fast, c2cStore, lifted, ['messages'], 'bench-fast');
  const stackCalls = totalCalls((await fast.counters()).calls) - fastBefore;
  // The same importmsg calls from a plain script, 50 at a time.
  await fast.reset();
  const im = new ImClient({ ...IM, baseUrl: fast.baseUrl });
  const accounts = c2cStore.accountIds({ limit: 100_000 }).items;
  for (let i = 0; i < accounts.length; i += 100) await im.call('multiaccount_import', { Accounts: accounts.slice(i, i + 100) });
  const messages = c2cStore.db
    .prepare(
      'SELECT old_id, sender, receiver, time, body, ROW_NUMBER() OVER (PARTITION BY conv_owner, conv_peer, time ORDER BY ordinal) - 1 AS earlier FROM messages',
    )
    .all() as Array<{ old_id: string; sender: string; receiver: string; time: number; body: string; earlier: number }>;
  const scriptStarted = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < messages.length) {
        const m = messages[next++];
        const { msgSeq, msgRandom } = importedMessageIdentity({ oldId: m.old_id, earlierInSecond: m.earlier });
        await im.call('importmsg', {
          SyncFromOldSystem: SYNC_FROM_OLD_SYSTEM.history,
          From_Account: m.sender,
          To_Account: m.receiver,
          MsgSeq: msgSeq,
          MsgRandom: msgRandom,
          MsgTimeStamp: m.time,
          MsgBody: JSON.parse(m.body),
        });
      }
    }),
  );
  const scriptSeconds = (Date.now() - scriptStarted) / 1000;
  const overhead = {
    stackCallsPerSecond: stackCalls / stackSeconds,
    scriptCallsPerSecond: messages.length / scriptSeconds,
    ratio: stackCalls / stackSeconds / (messages.length / scriptSeconds),
  };
  console.log('overhead', overhead);
  await fast.close();
  imSide.exit();

  const result = {
    benchmark: 'import',
    at: new Date().toISOString(),
    rateUse,
    overlap,
    overhead,
    goals: { rateShare: 0.9, refusedShare: 0.01, overlapRatio: 1.2 },
  };
  writeFileSync(join(__dirname, '..', '..', 'bench', 'results', 'import.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(
    `\n| importmsg calls/s, whole run (share of 200) | steady | refused for rate | total / slowest bound | stack / plain script calls/s |\n|---:|---:|---:|---:|---:|\n` +
      `| ${rateUse.callsPerSecond.toFixed(0)} (${(rateUse.share * 100).toFixed(0)} %) | ${rateUse.steadyCallsPerSecond.toFixed(0)} (${(rateUse.steadyShare * 100).toFixed(0)} %) | ${(rateUse.refusedShare * 100).toFixed(2)} % | ${overlap.ratio.toFixed(2)} (${overlap.slowestApi}; warm-up ${overlap.warmUp.ratio.toFixed(2)}) | ${overhead.stackCallsPerSecond.toFixed(0)} / ${overhead.scriptCallsPerSecond.toFixed(0)} = ${overhead.ratio.toFixed(2)} |`,
  );
  await connection.close();
  c2cStore.close();
  sampleStore.close();
  await server.stop();
}

void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
