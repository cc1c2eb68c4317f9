/**
 * Scale benchmark (`npm run bench -- scale [--messages 500000 --group-messages 150000]`): the whole
 * import of a large sample bundle, IM's rates lifted on both sides by the tool's own settings
 * (TIM_RATE_<API>), then a 1 % delta, then `verify` at the default rates. The dev server (its
 * store in memory), the real workers in this process and the IM emulator in a process of its own
 * (scripts/bench/im-side.ts, default 30 ms latency), as in the import benchmark. In one run:
 *   - import: items (one-to-one and group messages) per second; CPU seconds per 1,000 items of each
 *     process; each one's highest RSS (sampled every second); the largest workflow history; the
 *     cost per item against a reference import of 20,000 / 6,000 messages run just before
 *     (goal ≤ 1.3×); the workers' and dev server's RSS as the import goes on; the IM call rate in
 *     the 10 s before and after each continue-as-new of the migration (goal: no dip);
 *   - delta: a newer export with 1 % more messages loaded into the same store and the migration
 *     started again: IM write calls against the calls the new items need (goal: equal ±2 %);
 *   - verify of everything at the default rates against 0.1× the import's own bound at those rates
 *     (legacy/plan.ts importSeconds), with items checked per second.
 * Figures are single runs on a shared machine: compare the ratios within one run.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { IM_API_NAMES, IM_APIS, resolveApiLimits, type ApiLimitTable, type ImApiName } from '../../im/apis';
import { ImClient } from '../../im/client';
import { BUNDLE_FILES } from '../../legacy/bundle';
import { planMigration } from '../../legacy/plan';
import { writeSampleBundle } from '../../legacy/sample';
import { StagingStore } from '../../legacy/store';
import { IMPORT_PHASES } from '../../workflows/api';
import { migrationWorkflow } from '../../workflows/migration';
import { workflowTaskQueue } from '../../workflows/task-queues';
import { VERIFY_KINDS } from '../../workflows/verify-api';
import { createImportStack } from '../../workers/import-workers';
import { installQuietWorkerLogging } from '../../workers/logging';
import { runVerification } from '../commands/verify';
import { startDevServer } from '../lib/dev-server';
import { forkImSide, type RemoteImEmulator } from './im-side';
import { childPid, pidMeter, thisProcessMeter, type ProcessMeter } from './process-meter';

const count = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name}: expected a positive integer, got "${value}"`);
  return n;
};
const program = new Command('scale')
  .option('--messages <n>', 'one-to-one messages of the large import', count('--messages'), 500_000)
  .option('--group-messages <n>', 'group messages of the large import', count('--group-messages'), 150_000)
  .parse(process.argv.slice(3), { from: 'user' });
const SCALE = program.opts<{ messages: number; groupMessages: number }>();
const REFERENCE = { messages: 20_000, groupMessages: 6_000 };
const DELTA_SHARE = 0.01;
/** The sample's newest second; the delta's messages come after it. */
const END_TIME = 1_760_000_000;
const CAN_WINDOW_MS = 10_000;

const IM = { sdkAppId: 1400000777, secretKey: randomBytes(16).toString('hex'), admin: 'administrator' };
const LIFTED_SETTINGS = Object.fromEntries(IM_API_NAMES.map((api) => [`TIM_RATE_${api.toUpperCase()}`, '100000']));
const WRITE_APIS = IM_API_NAMES.filter((api) => IM_APIS[api].kind === 'import');

type Calls = Partial<Record<ImApiName, number>>;
const writeCalls = (calls: Calls) => WRITE_APIS.reduce((sum, api) => sum + (calls[api] ?? 0), 0);
const round = (n: number, digits = 2) => Number(n.toFixed(digits));

/** The sample's shape at any size: as many messages per user and per group as the load benchmark's. */
const sampleShape = (s: { messages: number; groupMessages: number }) => ({
  users: Math.max(60, Math.round(s.messages / 25)),
  groups: Math.max(8, Math.round(s.groupMessages / 375)),
  messages: s.messages,
  groupMessages: s.groupMessages,
});

interface Sample {
  at: number;
  writeCalls: number;
  rssMb: Record<string, number>;
}

/** Every second: IM's write calls so far and each process's RSS. */
function startSampler(emulator: RemoteImEmulator, meters: ProcessMeter[]) {
  const samples: Sample[] = [];
  const timer = setInterval(() => {
    const at = Date.now();
    const rssMb = Object.fromEntries(meters.map((m) => [m.name, Math.round(m.rssMb())]));
    void emulator.counters().then((c) => samples.push({ at, writeCalls: writeCalls(c.calls), rssMb }));
  }, 1000);
  return { samples, stop: () => clearInterval(timer) };
}

/** Write calls a second between two instants, from the samples either side of each. */
function rateBetween(samples: Sample[], from: number, to: number): number {
  const callsAt = (t: number) => {
    const after = samples.findIndex((s) => s.at >= t);
    if (after <= 0) return (after === 0 ? samples[0] : samples[samples.length - 1]).writeCalls;
    const [a, b] = [samples[after - 1], samples[after]];
    return a.writeCalls + ((b.writeCalls - a.writeCalls) * (t - a.at)) / (b.at - a.at);
  };
  return (callsAt(to) - callsAt(from)) / ((to - from) / 1000);
}

async function loadSample(dir: string, shape: ReturnType<typeof sampleShape>): Promise<StagingStore> {
  await writeSampleBundle(join(dir, 'bundle'), { seed: 7, endTime: END_TIME, ...shape });
  const store = new StagingStore(join(dir, 'staging.sqlite'));
  await store.load(join(dir, 'bundle'));
  return store;
}

const ndjson = (dir: string, file: string) =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/**
 * The newer export: the bundle again with 1 % more messages, all after its newest second, the
 * one-to-one ones between existing users, the group ones in the most active tenth of the groups IM
 * imports (IM zeroes a group's unread counts when its history grows, so those are written again).
 * Returns the calls the new items need.
 */
function writeNewerExport(from: string, to: string, shape: ReturnType<typeof sampleShape>, limits: ApiLimitTable) {
  cpSync(from, to, { recursive: true });
  const users = ndjson(from, BUNDLE_FILES.accounts).map((a) => String(a.id));
  const groups = ndjson(from, BUNDLE_FILES.groups).filter((g) => g.type !== 'AVChatRoom');
  const touched = groups.slice(0, Math.max(1, Math.ceil(groups.length / 10)));
  const c2c = Math.round(shape.messages * DELTA_SHARE);
  const lines = Array.from({ length: c2c }, (_, i) => {
    const [a, b] = [users[(i * 7) % users.length], users[(i * 13 + 1) % users.length]];
    const body = [{ MsgType: 'TIMTextElem', MsgContent: { Text: `newer ${i}` } }];
    return JSON.stringify({
      id: `c2c-newer-${i}`,
      from: a,
      to: a === b ? users[(i * 7 + 1) % users.length] : b,
      time: END_TIME + 1 + i,
      body,
    });
  });
  appendFileSync(join(to, BUNDLE_FILES.messages), lines.join('\n') + '\n');
  const group = Math.round(shape.groupMessages * DELTA_SHARE);
  const perGroup = new Map<string, number>();
  const groupLines = Array.from({ length: group }, (_, i) => {
    const g = touched[i % touched.length];
    const n = (perGroup.get(String(g.id)) ?? 0) + 1;
    perGroup.set(String(g.id), n);
    const body = [{ MsgType: 'TIMTextElem', MsgContent: { Text: `newer group ${i}` } }];
    return JSON.stringify({ id: `grp-newer-${i}`, group: g.id, from: g.owner, time: END_TIME + n, body });
  });
  appendFileSync(join(to, BUNDLE_FILES.groupMessages), groupLines.join('\n') + '\n');
  const unread = ndjson(from, BUNDLE_FILES.groupMembers).filter((m) => perGroup.has(String(m.group)) && Number(m.unread) > 0).length;
  const groupCalls = [...perGroup.values()].reduce((sum, n) => sum + Math.ceil(n / limits.import_group_msg.maxItems), 0);
  return {
    c2cMessages: c2c,
    groupMessages: group,
    groupsTouched: perGroup.size,
    neededCalls: { importmsg: c2c, import_group_msg: groupCalls, set_unread_msg_num: unread },
  };
}

async function main(): Promise<void> {
  installQuietWorkerLogging('ERROR');
  const dir = mkdtempSync(join(tmpdir(), 'tim-bench-scale-'));
  // The dev server's store in memory, as in the other benchmarks: on disk here (fsync per write, a shared
  // disk) its writes timed out under the import's load. Its RSS therefore holds every history kept.
  const server = await startDevServer({ log: () => undefined });
  const connection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection: server.env.connection, namespace: server.namespace });
  const imSide = forkImSide();
  const lifted = resolveApiLimits(LIFTED_SETTINGS);
  const defaults = resolveApiLimits({});
  const emulator = await imSide.start({ ...IM, limits: lifted });
  const meters = [thisProcessMeter('worker'), pidMeter('devServer', childPid('start-dev')), pidMeter('emulator', imSide.pid)];

  const t0 = Date.now();
  const shape = sampleShape(SCALE);
  const referenceStore = await loadSample(join(dir, 'reference'), sampleShape(REFERENCE));
  const store = await loadSample(join(dir, 'scale'), shape);
  console.log(
    `bundles written and loaded in ${((Date.now() - t0) / 1000).toFixed(0)} s: reference`,
    sampleShape(REFERENCE),
    'scale',
    shape,
  );

  const migrate = async (s: StagingStore, limits: ApiLimitTable, prefix: string) => {
    const workers = await createImportStack({
      connection,
      namespace: server.namespace,
      taskQueuePrefix: prefix,
      store: s,
      im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
      limits,
      accountListShape: false,
      activityConcurrency: 50,
    });
    const running = workers.run();
    try {
      await client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: `${prefix}-run`,
        args: [
          {
            options: {
              migrationId: `${prefix}-run`,
              taskQueuePrefix: prefix,
              phases: [...IMPORT_PHASES],
              userConcurrency: 200,
              groupConcurrency: 50,
              accountConcurrency: 4,
              accountListShape: false,
              batchSizes: {
                accounts: limits.multiaccount_import.maxItems,
                friends: limits.friend_import.maxItems,
                members: limits.import_group_member.maxItems,
              },
            },
          },
        ],
      });
    } finally {
      workers.shutdown();
      await running;
    }
  };

  /** One measured stage: seconds, IM calls, CPU seconds of each process, the samples taken. */
  const measured = async (run: () => Promise<void>) => {
    const cpuBefore = meters.map((m) => m.cpuSeconds());
    const callsBefore = (await emulator.counters()).calls;
    const sampler = startSampler(emulator, meters);
    const started = Date.now();
    await run();
    const seconds = (Date.now() - started) / 1000;
    sampler.stop();
    const callsAfter = (await emulator.counters()).calls;
    const calls = Object.fromEntries(
      IM_API_NAMES.map((api) => [api, (callsAfter[api] ?? 0) - (callsBefore[api] ?? 0)]).filter(([, n]) => n !== 0),
    ) as Calls;
    const cpuSeconds = Object.fromEntries(meters.map((m, i) => [m.name, m.cpuSeconds() - cpuBefore[i]]));
    return { started, seconds, calls, cpuSeconds, samples: sampler.samples };
  };

  const importStage = async (s: StagingStore, prefix: string, items: number) => {
    const stage = await measured(() => migrate(s, lifted, prefix));
    const perThousand = Object.fromEntries(Object.entries(stage.cpuSeconds).map(([name, cpu]) => [name, round((cpu / items) * 1000, 3)]));
    const totalCpuPerThousand = round((Object.values(stage.cpuSeconds).reduce((a, b) => a + b, 0) / items) * 1000, 3);
    const peakRssMb = Object.fromEntries(meters.map((m) => [m.name, Math.max(0, ...stage.samples.map((x) => x.rssMb[m.name]))]));
    // Every workflow of this migration (its runs, users' and groups' children): the longest history.
    let largest = { workflowId: '', type: '', events: 0 };
    const runs: Array<{ closeTime?: Date; status: string; events: number }> = [];
    for await (const w of client.workflow.list()) {
      if (!w.workflowId.startsWith(`${prefix}-run`)) continue;
      if (w.historyLength > largest.events) largest = { workflowId: w.workflowId, type: w.type, events: w.historyLength };
      if (w.workflowId === `${prefix}-run`) runs.push({ closeTime: w.closeTime, status: w.status.name, events: w.historyLength });
    }
    // The call rate around each continue-as-new against the steady rate (2 s windows, 5 %–95 % of the calls).
    const total = stage.samples[stage.samples.length - 1]?.writeCalls ?? 0;
    const first = stage.samples[0]?.writeCalls ?? 0;
    const steadySamples = stage.samples.filter(
      (x) => x.writeCalls >= first + 0.05 * (total - first) && x.writeCalls <= first + 0.95 * (total - first),
    );
    const windows = steadySamples
      .slice(2)
      .map((x, i) => (x.writeCalls - steadySamples[i].writeCalls) / ((x.at - steadySamples[i].at) / 1000));
    const steadyRate = windows.sort((a, b) => a - b)[Math.floor(windows.length / 2)] ?? 0;
    // A continue-as-new within 10 s of the last call is the tail's (the last run waits for its children): no rate to compare.
    const lastCallAt = stage.samples.find((x) => x.writeCalls >= total)?.at ?? stage.started;
    const continueAsNew = runs
      .filter((r) => r.status === 'CONTINUED_AS_NEW' && r.closeTime)
      .map((r) => r.closeTime!.getTime())
      .sort((a, b) => a - b)
      .map((at) => {
        const atSecond = round((at - stage.started) / 1000, 1);
        if (at + CAN_WINDOW_MS > lastCallAt) return { atSecond, inTail: true };
        const before = rateBetween(stage.samples, at - CAN_WINDOW_MS, at);
        const after = rateBetween(stage.samples, at, at + CAN_WINDOW_MS);
        const lowest = Math.min(
          ...Array.from({ length: 9 }, (_, i) => rateBetween(stage.samples, at - 5000 + i * 1000, at - 3000 + i * 1000)),
        );
        return {
          atSecond,
          callsPerSecondBefore: round(before, 0),
          callsPerSecondAfter: round(after, 0),
          afterOverBefore: round(after / before),
          lowest2sOverSteady: round(lowest / steadyRate),
        };
      });
    // RSS as the import goes on, at shares of its calls.
    const rssOverTime = [0.1, 0.25, 0.5, 0.75, 1].map((share) => {
      const x = stage.samples.find((y) => y.writeCalls - first >= share * (total - first)) ?? stage.samples[stage.samples.length - 1];
      return { share, second: round((x.at - stage.started) / 1000, 0), ...x.rssMb };
    });
    return {
      items,
      seconds: round(stage.seconds, 1),
      itemsPerSecond: round(items / stage.seconds, 0),
      writeCallsPerSecond: round(writeCalls(stage.calls) / stage.seconds, 0),
      steadyWriteCallsPerSecond: round(steadyRate, 0),
      calls: stage.calls,
      cpuSeconds: Object.fromEntries(Object.entries(stage.cpuSeconds).map(([k, v]) => [k, round(v, 1)])),
      cpuSecondsPer1000Items: { ...perThousand, total: totalCpuPerThousand },
      peakRssMbSampled: peakRssMb,
      largestHistory: largest,
      migrationRuns: runs.length,
      continueAsNew,
      rssOverTime,
    };
  };

  // 1. The reference import, then the large one, each into an emptied IM.
  const reference = await importStage(referenceStore, 'bench-scale-ref', REFERENCE.messages + REFERENCE.groupMessages);
  console.log('reference import', reference);
  referenceStore.close();
  await emulator.reset();
  const prefix = 'bench-scale';
  const scale = await importStage(store, prefix, SCALE.messages + SCALE.groupMessages);
  console.log('scale import', scale);
  const costRatio = Object.fromEntries(
    Object.entries(scale.cpuSecondsPer1000Items).map(([k, v]) => [
      k,
      round(v / (reference.cpuSecondsPer1000Items as Record<string, number>)[k]),
    ]),
  );

  // 2. The delta: a newer export into the same store, the migration started again.
  const newer = writeNewerExport(join(dir, 'scale', 'bundle'), join(dir, 'scale', 'bundle-newer'), shape, lifted);
  await store.load(join(dir, 'scale', 'bundle-newer'));
  const deltaStage = await measured(() => migrate(store, lifted, prefix));
  const needed = Object.values(newer.neededCalls).reduce((a, b) => a + b, 0);
  const written = writeCalls(deltaStage.calls);
  const delta = {
    ...newer,
    seconds: round(deltaStage.seconds, 1),
    writeCalls: Object.fromEntries(WRITE_APIS.filter((api) => deltaStage.calls[api]).map((api) => [api, deltaStage.calls[api]])),
    writeCallsTotal: written,
    neededCallsTotal: needed,
    ratio: round(written / needed, 3),
    met: Math.abs(written / needed - 1) <= 0.02,
  };
  console.log('delta', delta);

  // 3. Verify everything at the default rates, IM's limits back at its defaults too.
  await emulator.setLimits(defaults);
  const plan = planMigration(store.db, defaults, { nowS: Math.floor(Date.now() / 1000), roamingDays: 7 });
  let verifyResult: Awaited<ReturnType<typeof runVerification>> | undefined;
  const verifyStage = await measured(async () => {
    const workers = await createImportStack({
      connection,
      namespace: server.namespace,
      taskQueuePrefix: prefix,
      store,
      im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
      limits: defaults,
      accountListShape: false,
      activityConcurrency: 50,
    });
    const running = workers.run();
    try {
      verifyResult = await runVerification(client, prefix, { migrationId: `${prefix}-run` });
    } finally {
      workers.shutdown();
      await running;
    }
  });
  const checked = VERIFY_KINDS.reduce((sum, k) => sum + (verifyResult?.tally[k]?.expected ?? 0), 0);
  const verify = {
    seconds: round(verifyStage.seconds, 1),
    itemsChecked: checked,
    itemsPerSecond: round(checked / verifyStage.seconds, 0),
    passed: verifyResult?.passed,
    differences: VERIFY_KINDS.reduce((sum, k) => sum + (verifyResult?.tally[k]?.differences ?? 0), 0),
    importBoundSecondsAtDefaults: round(plan.importSeconds, 0),
    againstTenthOfImportBound: round(verifyStage.seconds / (0.1 * plan.importSeconds)),
    verifyBoundSeconds: round(plan.verifySeconds, 0),
    againstVerifyBound: round(verifyStage.seconds / plan.verifySeconds),
    readCalls: verifyStage.calls,
  };
  console.log('verify', verify);

  const lifetimePeakRssMb = Object.fromEntries(meters.map((m) => [m.name, Math.round(m.peakRssMb())]));
  const result = {
    benchmark: 'scale',
    at: new Date().toISOString(),
    machine: 'shared 2-core, 24 GiB; single run',
    command: `npm run bench -- scale --messages ${SCALE.messages} --group-messages ${SCALE.groupMessages}`,
    shape,
    reference,
    scale,
    costPerItemAgainstReference: costRatio,
    delta,
    verify,
    lifetimePeakRssMb,
    goals: { costPerItemRatio: 1.3, deltaWriteCallsRatio: [0.98, 1.02], verifyAgainstTenthOfImportBound: 1, continueAsNewDip: 'none' },
  };
  const canCell = (cans: Array<{ atSecond: number; afterOverBefore?: number }>) =>
    cans
      .map((c) => (c.afterOverBefore === undefined ? `at ${c.atSecond} s, in the tail` : `${c.afterOverBefore} at ${c.atSecond} s`))
      .join(', ') || 'none';
  const isDefault = SCALE.messages === 500_000 && SCALE.groupMessages === 150_000;
  const file = isDefault ? 'scale.json' : `scale-${SCALE.messages}x${SCALE.groupMessages}.json`;
  writeFileSync(join(__dirname, '..', '..', 'bench', 'results', file), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  console.log(
    [
      '| measure | reference | scale | ratio / goal |',
      '|---|---:|---:|---|',
      `| items (messages + group messages) | ${reference.items} | ${scale.items} | |`,
      `| items/s | ${reference.itemsPerSecond} | ${scale.itemsPerSecond} | |`,
      ...['worker', 'devServer', 'emulator', 'total'].map(
        (k) =>
          `| CPU s / 1,000 items, ${k} | ${(reference.cpuSecondsPer1000Items as Record<string, number>)[k]} | ${(scale.cpuSecondsPer1000Items as Record<string, number>)[k]} | ${costRatio[k]} (≤ 1.3) |`,
      ),
      ...meters.map(
        (m) => `| highest RSS, ${m.name} (sampled) | ${reference.peakRssMbSampled[m.name]} MB | ${scale.peakRssMbSampled[m.name]} MB | |`,
      ),
      `| largest history (events) | ${reference.largestHistory.events} | ${scale.largestHistory.events} (${scale.largestHistory.type}) | |`,
      `| migration continue-as-new: rate after / before | ${canCell(reference.continueAsNew)} | ${canCell(scale.continueAsNew)} | no dip |`,
      `| delta: write calls / calls needed | | ${delta.writeCallsTotal} / ${delta.neededCallsTotal} | ${delta.ratio} (1 ± 0.02) |`,
      `| verify: seconds / (0.1 × import bound at defaults) | | ${verify.seconds} / ${round(0.1 * plan.importSeconds, 0)} | ${verify.againstTenthOfImportBound} (≤ 1) |`,
      `| verify: items checked/s | | ${verify.itemsPerSecond} | |`,
    ].join('\n'),
  );
  await emulator.close();
  imSide.exit();
  store.close();
  await connection.close();
  await server.stop();
}

void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
