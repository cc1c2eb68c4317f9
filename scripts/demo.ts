/**
 * `npm run demo`: the whole historical import on the embedded default. It starts the Temporal dev
 * server (with its Web UI), the IM emulator, writes and loads the sample bundle, runs the workers,
 * starts the migration, shows live progress and ends with a verification table read back through
 * IM's read APIs. `--keep` leaves the stack running for the Web UI.
 *
 * `--coexistence` adds the live two-way sync: the gateway, the sync worker and the old-system
 * emulator start before the import (a live message sent during it waits for its group's
 * history), then both apps send traffic for a while, and a two-way verification table ends it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import type { GroupType } from '../im/messages';
import { startCoexistence, type Coexistence } from './lib/coexistence';
import { createTrafficGroups, formatTwoWayTable, sendTraffic, verifyTwoWay } from './lib/coexistence-traffic';
import { startSync } from './lib/sync-control';
import { formatSyncStats } from './commands/sync';
import { resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { SAMPLE_DEFAULTS, writeSampleBundle } from '../legacy/sample';
import { StagingStore } from '../legacy/store';
import { formatIssue } from '../legacy/validate';
import { IMPORT_PHASES } from '../workflows/api';
import { createImportStack } from '../workers/import-workers';
import { installQuietWorkerLogging } from '../workers/logging';
import { DEFAULT_WORKFLOW_THREADS } from '../workers/settings';
import { startDevServer } from './lib/dev-server';
import { checkProgressInWebUi } from './lib/web-ui-check';
import { printResult, startMigration, watchMigration } from './commands/migration';
import { runVerification } from './commands/verify';
import { formatVerifyTable } from '../workflows/verify-api';
import { printSummary } from './commands/legacy';

const program = new Command('demo')
  .description('run a whole migration on the embedded default (dev server, IM emulator, sample data)')
  .option('--port <port>', 'Temporal gRPC port', '7233')
  .option('--ui-port <port>', 'Temporal Web UI port', '8233')
  .option('--users <n>', 'sample accounts', String(SAMPLE_DEFAULTS.users))
  .option('--messages <n>', 'sample one-to-one messages', String(SAMPLE_DEFAULTS.messages))
  .option('--group-messages <n>', 'sample group messages', String(SAMPLE_DEFAULTS.groupMessages))
  .option('--seed <n>', 'sample seed', '1')
  .option('--keep', 'leave the stack running (for the Web UI) until Ctrl-C')
  .option('--coexistence', 'also run the live two-way sync with simulated traffic in both directions')
  .option('--traffic-seconds <n>', 'seconds of coexistence traffic', '10')
  .option('--traffic-rate <n>', 'events per second from each app during the traffic', '10')
  .option('--verbose', 'print each activity attempt IM refused for rate (the progress view counts them)')
  .option('--screenshot <png>', 'open the migration in the Web UI with Chromium, check the progress table is shown, save a screenshot')
  .parse();

const log = (line: string) => console.log(line);

async function main(): Promise<number> {
  const o = program.opts();
  installQuietWorkerLogging(undefined, { verbose: o.verbose });
  log('Starting the Temporal dev server…');
  const server = await startDevServer({ port: Number(o.port), uiPort: Number(o.uiPort), log });
  log(`  Temporal: ${server.address}   Web UI: ${server.uiUrl}`);

  // A throwaway app secret for the emulator: never printed.
  const im = { sdkAppId: 1400000000, secretKey: randomBytes(24).toString('hex'), admin: 'administrator' };
  const emulator = await startImEmulator(im);
  log(`  IM emulator: ${emulator.baseUrl} (SDKAppID ${im.sdkAppId}, admin ${im.admin})`);

  const dir = mkdtempSync(join(tmpdir(), 'tim-migrate-demo-'));
  const bundle = join(dir, 'bundle');
  const sample = await writeSampleBundle(bundle, {
    seed: Number(o.seed),
    users: Number(o.users),
    groups: SAMPLE_DEFAULTS.groups,
    messages: Number(o.messages),
    groupMessages: Number(o.groupMessages),
  });
  log(
    `Sample bundle ${bundle}: ${Object.entries(sample.counts)
      .map(([e, n]) => `${n} ${e}`)
      .join(', ')}`,
  );
  const storePath = join(dir, 'staging.sqlite');
  const store = new StagingStore(storePath);
  const loaded = await store.load(bundle, { onIssue: (i) => log(formatIssue(i)) });
  printSummary(loaded, log);
  if (loaded.errors) throw new Error('the sample bundle did not validate');

  const limits = resolveApiLimits(process.env);
  const imClient = new ImClient({ ...im, baseUrl: emulator.baseUrl });
  const connection = await NativeConnection.connect({ address: server.address });
  const settings = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    TIM_TASK_QUEUE_PREFIX: 'tim-demo',
    TIM_ACTIVITY_CONCURRENCY: 20,
    TIM_WORKFLOW_THREADS: DEFAULT_WORKFLOW_THREADS,
    TIM_STORE: '',
  };
  const workers = await createImportStack({
    connection,
    namespace: server.namespace,
    taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
    store,
    im: imClient,
    limits,
    accountListShape: false,
    activityConcurrency: settings.TIM_ACTIVITY_CONCURRENCY,
  });
  const running = workers.run();

  const client = new Client({ connection: server.env.connection, namespace: server.namespace });
  const coexistence = o.coexistence
    ? await startDemoCoexistence(client, connection, server.namespace, settings.TIM_TASK_QUEUE_PREFIX, store, emulator, im)
    : undefined;
  const workflowId = `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await startMigration(client, settings, {
    workflowId,
    phases: [...IMPORT_PHASES],
    userConcurrency: 50,
    groupConcurrency: 20,
    accountConcurrency: 2,
    accountListShape: false,
  });
  log(`\nMigration ${workflowId} started: ${server.uiUrl}/namespaces/${server.namespace}/workflows/${workflowId}\n`);
  const result = await watchMigration(client, workflowId);
  printResult(result);

  log('\nVerification: the staging store against IM, read back through IM’s read APIs');
  const verified = await runVerification(client, settings.TIM_TASK_QUEUE_PREFIX, { migrationId: workflowId });
  log(formatVerifyTable(verified.tally));
  // IM has no API that reads a one-to-one read mark back: this row is IM's answers during the run.
  const readMarksExpected = store.totals().readMarks - (store.countByEntity(workflowId).readMark ?? 0);
  const readMarksOk = result.phases.readMarks.done === readMarksExpected;
  log(`Read marks (IM's answers, no read API): ${result.phases.readMarks.done} of ${readMarksExpected} ${readMarksOk ? 'OK' : 'MISMATCH'}`);
  if (!verified.passed) log(`Differences: npm run cli -- verify --report ${verified.verifyId} --store ${storePath}`);
  let ok = verified.passed && readMarksOk;
  log(ok ? '\nAll equal (items in the failure report excepted).' : '\nMISMATCH: see the rows above.');
  const failures = store.failures(workflowId, { limit: 20 });
  if (failures.items.length) {
    log('\nFailure report (first 20):');
    for (const f of failures.items) log(`  ${f.entity} ${f.itemId}: ${f.api} ${f.code} ${f.errorClass}: ${f.reason}`);
  }

  if (coexistence) {
    await coexistence.settled();
    const isLive = (m: { body: unknown }) => JSON.stringify(m.body).includes(LIVE_DURING_IMPORT);
    const held = Object.values(emulator.snapshot().groups).find((g) => g.messages.some(isLive));
    const last = held?.messages[held.messages.length - 1];
    const copies = held?.messages.filter(isLive).length ?? 0;
    const followed = copies === 1 && !!last && isLive(last);
    log(
      `\nThe message said live during the import is in IM once, after the group's ${held ? held.messages.length - 1 : 0} imported messages: ${followed ? 'OK' : 'MISMATCH'}`,
    );
    ok = ok && followed;

    log('\nCoexistence: live traffic from both apps');
    const users = store.accountIds({ limit: 20 }).items.map((imId) => ({ oldId: store.toOldUserId(imId), imId }));
    const plan = { users, ratePerSide: Number(o.trafficRate), seconds: Number(o.trafficSeconds), tag: `live${Date.now() % 100000}` };
    const sides = { legacy: coexistence.legacy, im: emulator };
    const ledger = await createTrafficGroups(sides, plan);
    await coexistence.settled();
    await sendTraffic(sides, plan, ledger);
    const stats = await coexistence.settled(120_000);
    const twoWay = verifyTwoWay(
      { im: emulator.snapshot(), legacy: { messages: coexistence.legacy.messages(), groups: coexistence.legacy.groups() } },
      ledger,
    );
    log('\nTwo-way verification: each message counted on both sides');
    log(formatTwoWayTable(twoWay.rows));
    log(`Groups made during the traffic, profile and members equal on both sides: ${twoWay.groupsEqual ? 'OK' : 'MISMATCH'}`);
    log(`\nSync status (tim-migrate sync status):\n${formatSyncStats(stats)}`);
    const syncOk = twoWay.groupsEqual && twoWay.rows.every((r) => r.lost + r.duplicated + r.echoed === 0 && r.arrived === r.sent);
    if (!syncOk) log('\nMISMATCH in the live sync: see the rows above.');
    ok = ok && syncOk;
  }

  if (o.screenshot) {
    const check = await checkProgressInWebUi({
      uiUrl: server.uiUrl!,
      namespace: server.namespace,
      workflowId,
      expectText: 'Member unread counts',
      screenshot: o.screenshot,
    });
    log(`\nWeb UI check: progress table ${check.found ? 'shown' : 'NOT shown'} at ${check.url}; screenshot ${check.screenshot}`);
    if (!check.found) return 1;
  }

  if (o.keep) {
    log(`\nThe stack keeps running. Web UI: ${server.uiUrl}   Press Ctrl-C to stop.`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await coexistence?.close();
  workers.shutdown();
  await running;
  await connection.close();
  await emulator.close();
  store.close();
  await server.stop();
  return ok ? 0 : 1;
}

const LIVE_DURING_IMPORT = 'Said live in App 1.0 while the import runs';

/** Gateway, sync worker and old-system emulator (holding the bundle's groups), the sync started, and one live message during the import. */
async function startDemoCoexistence(
  client: Client,
  connection: NativeConnection,
  namespace: string,
  prefix: string,
  store: StagingStore,
  emulator: ImEmulator,
  im: { sdkAppId: number; secretKey: string; admin: string },
): Promise<Coexistence> {
  const coex = await startCoexistence({
    client,
    connection,
    namespace,
    taskQueuePrefix: prefix,
    store,
    im: emulator,
    imConfig: im,
    legacySecret: randomBytes(24).toString('hex'),
    callbackToken: randomBytes(16).toString('hex'),
  });
  const groupIds = store.groupIds({ limit: 1000 }).items;
  for (const imId of groupIds) {
    const g = store.group(imId)!;
    const members = store.allGroupMembers(imId).map((m) => store.toOldUserId(m.userId));
    coex.legacy.addExistingGroup({
      groupId: store.toOldGroupId(imId),
      groupType: g.type as GroupType,
      name: g.name,
      owner: g.ownerId && store.toOldUserId(g.ownerId),
      members,
    });
  }
  await startSync(client, prefix);
  log(`  Sync gateway: ${coex.gatewayUrl}   old-system emulator: ${coex.legacy.baseUrl}   sync started`);
  const first = store.group(groupIds[0])!;
  if (first.ownerId) {
    await coex.legacy
      .asUser(store.toOldUserId(first.ownerId))
      .sendGroupMessage(store.toOldGroupId(first.groupId), [{ MsgType: 'TIMTextElem', MsgContent: { Text: LIVE_DURING_IMPORT } }]);
    log(`  A live App 1.0 message in group ${first.groupId} waits until that group's history is imported, then follows it.`);
  }
  return coex;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
