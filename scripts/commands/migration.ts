/**
 * `tim-migrate start|pause|resume|cancel|status|watch|report`: drive a historical import through
 * Temporal. Address and namespace come from settings, so the same commands drive the local dev
 * server and a real cluster.
 */
import { Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { rootCause } from '@temporalio/common';
import { Command, InvalidArgumentError } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { resolveApiLimits } from '../../im/apis';
import {
  cancelSignal,
  IMPORT_PHASES,
  PHASE_LABELS,
  pauseSignal,
  progressQuery,
  resumeSignal,
  type ImportPhase,
  type MigrationOptions,
  type MigrationProgress,
  type MigrationResult,
} from '../../workflows/api';
import { migrationWorkflow } from '../../workflows/migration';
import { retryFailuresWorkflow, type RetryFailuresResult } from '../../workflows/retry-failures';
import { workflowTaskQueue } from '../../workflows/task-queues';
import { rateLimitedRetries } from '../../workers/logging';
import { loadDotEnv, loadTemporalSettings, type TemporalSettings } from '../../workers/settings';
import { StagingStore } from '../../legacy/store';
import { connectClient } from '../lib/temporal-connection';
import { verificationStatus, watchVerification } from './verify';
import { formatVerifyTable } from '../../workflows/verify-api';

// The commands' one way to a client: the other command files import it from here.
export { connectClient };

export function parsePhases(value: string): ImportPhase[] {
  const phases = value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const unknown = phases.filter((p) => !(IMPORT_PHASES as readonly string[]).includes(p));
  if (unknown.length) throw new InvalidArgumentError(`unknown phase(s) ${unknown.join(', ')}; known: ${IMPORT_PHASES.join(', ')}`);
  return phases as ImportPhase[];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export interface StartMigrationRequest {
  workflowId: string;
  phases: ImportPhase[];
  userConcurrency: number;
  groupConcurrency: number;
  accountConcurrency: number;
  accountListShape: boolean;
  /** Send everything again, also what IM accepted before (default: only what IM does not hold yet). */
  full?: boolean;
}

/** Start a migration workflow; the batch sizes come from the im/ table and its settings. */
export async function startMigration(client: Client, settings: TemporalSettings, req: StartMigrationRequest, env = process.env) {
  const limits = resolveApiLimits(env);
  const options: MigrationOptions = {
    migrationId: req.workflowId,
    taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
    phases: req.phases,
    userConcurrency: req.userConcurrency,
    groupConcurrency: req.groupConcurrency,
    accountConcurrency: req.accountConcurrency,
    accountListShape: req.accountListShape,
    full: req.full,
    batchSizes: {
      accounts: limits.multiaccount_import.maxItems,
      friends: limits.friend_import.maxItems,
      members: limits.import_group_member.maxItems,
    },
  };
  return client.workflow.start(migrationWorkflow, {
    taskQueue: workflowTaskQueue(settings.TIM_TASK_QUEUE_PREFIX),
    workflowId: req.workflowId,
    args: [{ options }],
    staticSummary: `Historical import ${req.workflowId}`,
    staticDetails: `Phases: ${req.phases.map((p) => PHASE_LABELS[p]).join(', ')}${req.full ? ' (full: everything again)' : ''}`,
  });
}

/** How a closed migration ended, from its execution: its last progress need not say (a failed run's says running). */
export interface MigrationEnd {
  state: 'completed' | 'cancelled' | 'failed' | 'terminated' | 'timed out';
  reason?: string;
}

/** The progress table `status` prints (plain text, fits a terminal). */
export function formatProgressTable(progress: MigrationProgress, end?: MigrationEnd): string {
  const rows = [['Phase', 'Done', 'Failed', 'Total', 'Rate/s', 'ETA']];
  for (const phase of IMPORT_PHASES) {
    const p = progress.phases[phase];
    if (p.total === 0 && p.done === 0 && p.failed === 0) continue;
    rows.push([
      PHASE_LABELS[phase],
      String(p.done),
      String(p.failed),
      String(p.total),
      p.ratePerSecond.toFixed(1),
      p.etaSeconds === null ? '…' : `${p.etaSeconds}s`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const text = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
  const head = end
    ? `${progress.migrationId}: ${end.state} (${progress.stage}) after ${progress.elapsedSeconds}s`
    : `${progress.migrationId}: ${progress.state} (${progress.stage}), ${progress.elapsedSeconds}s elapsed, ` +
      `${progress.usersRunning} users and ${progress.groupsRunning} groups in progress`;
  const lines = [
    head,
    text,
    end?.reason ? `${end.state}: ${end.reason}` : '',
    progress.lastError ? `last problem: ${progress.lastError}` : '',
  ];
  return lines.filter(Boolean).join('\n');
}

/** What `status` prints: the progress query, and for a closed migration how its execution ended. */
export async function migrationStatus(client: Client, workflowId: string): Promise<string> {
  const handle = client.workflow.getHandle<typeof migrationWorkflow>(workflowId);
  let execution: string;
  try {
    execution = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new Error(`no migration with workflow id ${workflowId}`, { cause: err });
    throw err;
  }
  const progress = await handle.query(progressQuery);
  if (execution === 'RUNNING') return formatProgressTable(progress);
  return formatProgressTable(progress, await migrationEnd(handle, execution));
}

async function migrationEnd(handle: ReturnType<Client['workflow']['getHandle']>, execution: string): Promise<MigrationEnd> {
  if (execution === 'COMPLETED')
    return { state: ((await handle.result()) as MigrationResult).state === 'cancelled' ? 'cancelled' : 'completed' };
  const state = ({ FAILED: 'failed', TERMINATED: 'terminated', TIMED_OUT: 'timed out', CANCELLED: 'cancelled' } as const)[execution];
  if (state === undefined) throw new Error(`migration ${handle.workflowId} is ${execution.toLowerCase()}`);
  try {
    await handle.result();
    return { state };
  } catch (err) {
    return { state, reason: err instanceof WorkflowFailedError ? rootCause(err.cause) : undefined };
  }
}

/**
 * Live progress bars until the migration ends; returns its result. A change of state (a pause) or
 * of its last problem (why) goes to `notice` as a line of its own (by default printed above the bars).
 */
export async function watchMigration(
  client: Client,
  workflowId: string,
  intervalMs = 1000,
  notice?: (line: string) => void,
): Promise<MigrationResult> {
  const handle = client.workflow.getHandle<typeof migrationWorkflow>(workflowId);
  const bars = new MultiBar(
    {
      format: ' {phase} |{bar}| {value}/{total}  failed {failed}  {rate}/s  ETA {left}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
    },
    Presets.shades_classic,
  );
  const byPhase = new Map<ImportPhase, ReturnType<MultiBar['create']>>();
  let rateBar: ReturnType<MultiBar['create']> | undefined;
  const draw = (phases: MigrationProgress['phases']) => {
    for (const phase of IMPORT_PHASES) {
      const p = phases[phase];
      if (p.total === 0) continue;
      const payload = {
        phase: PHASE_LABELS[phase].padEnd(22),
        failed: p.failed,
        rate: p.ratePerSecond.toFixed(0),
        left: p.etaSeconds === null ? '…' : `${p.etaSeconds}s`,
      };
      const bar = byPhase.get(phase) ?? bars.create(p.total, 0, payload);
      byPhase.set(phase, bar);
      bar.setTotal(p.total);
      bar.update(p.done + p.failed, payload);
    }
    // Counted by the workers of this process (the demo's): a watch beside separate workers shows none.
    const retried = rateLimitedRetries();
    if (retried === 0) return;
    rateBar ??= bars.create(0, 0, { retried }, { format: ' refused for rate, retried: {retried}' });
    rateBar.update(0, { retried });
  };
  const told = { state: '', lastError: '' };
  const tell = (progress: MigrationProgress) => {
    const lines: string[] = [];
    if (progress.state !== told.state) lines.push(progress.state);
    if ((progress.lastError ?? '') !== told.lastError) lines.push(`last problem: ${progress.lastError}`);
    told.state = progress.state;
    told.lastError = progress.lastError ?? '';
    for (const line of lines) (notice ?? ((l: string) => bars.log(`${l}\n`)))(line);
  };
  const done = handle.result();
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  try {
    while (!finished) {
      try {
        const progress = await handle.query(progressQuery);
        tell(progress);
        draw(progress.phases);
      } catch {
        // Between runs (continue-as-new) a query can miss; the next tick catches up.
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    draw((await done).phases);
  } finally {
    bars.stop();
  }
  return done;
}

export function registerMigrationCommands(program: Command): void {
  const withClient = async <T>(fn: (client: Client, settings: TemporalSettings) => Promise<T>): Promise<T> => {
    loadDotEnv();
    const settings = loadTemporalSettings();
    const client = await connectClient(settings);
    try {
      return await fn(client, settings);
    } finally {
      await client.connection.close();
    }
  };

  program
    .command('start')
    .description('start a historical import (run `tim-migrate worker` beside it)')
    .requiredOption('--workflow-id <id>', 'the migration id (also names its failure report)')
    .option('--phases <list>', `comma-separated phases (${IMPORT_PHASES.join(',')})`, parsePhases, [...IMPORT_PHASES])
    .option('--user-concurrency <n>', 'per-user child workflows at once', positiveInt, 50)
    .option('--group-concurrency <n>', 'per-group child workflows at once', positiveInt, 50)
    .option('--account-concurrency <n>', 'account batches at once', positiveInt, 4)
    .option('--full', 'send everything again, also what IM accepted in earlier runs (default: only what IM does not hold yet)')
    .option('--watch', 'show live progress until it ends')
    .action(async (opts) =>
      withClient(async (client, settings) => {
        const handle = await startMigration(client, settings, {
          workflowId: opts.workflowId,
          full: opts.full === true,
          phases: opts.phases,
          userConcurrency: opts.userConcurrency,
          groupConcurrency: opts.groupConcurrency,
          accountConcurrency: opts.accountConcurrency,
          accountListShape: process.env.TIM_ACCOUNT_IMPORT_SHAPE === 'AccountList',
        });
        console.log(`started ${handle.workflowId} on ${settings.TEMPORAL_ADDRESS} (namespace ${settings.TEMPORAL_NAMESPACE})`);
        if (opts.watch) printResult(await watchMigration(client, handle.workflowId));
      }),
    );

  for (const [name, signal, text] of [
    ['pause', pauseSignal, 'stop starting new work; calls in flight finish'],
    ['resume', resumeSignal, 'continue a paused migration'],
    ['cancel', cancelSignal, 'stop cleanly; the result says what was done'],
  ] as const) {
    program
      .command(`${name} <workflowId>`)
      .description(text)
      .action(async (workflowId: string) =>
        withClient(async (client) => {
          await client.workflow.getHandle(workflowId).signal(signal);
          console.log(`${name} sent to ${workflowId}`);
        }),
      );
  }

  program
    .command('status <workflowId>')
    .description('progress per phase: done, failed, total, rate, ETA')
    .action(async (workflowId: string) =>
      withClient(async (client) => {
        console.log((await verificationStatus(client, workflowId)) ?? (await migrationStatus(client, workflowId)));
      }),
    );

  registerReportCommand(program);

  program
    .command('retry-failed <workflowId>')
    .description('re-import only the items in the failure report of a migration (each through its own API and rate limit)')
    .action(async (workflowId: string) =>
      withClient(async (client, settings) => {
        const result = await retryFailed(client, settings, workflowId, (line) => console.log(line));
        const remaining = Object.entries(result.remaining);
        console.log(
          `${result.done} item(s) went through, ${result.failed} failed again; failure report now: ${remaining.length ? remaining.map(([e, n]) => `${n} ${e}`).join(', ') : 'empty'}`,
        );
      }),
    );

  program
    .command('watch <workflowId>')
    .description('live progress bars until the migration ends')
    .action(async (workflowId: string) =>
      withClient(async (client) => {
        if ((await verificationStatus(client, workflowId)) !== undefined) {
          const result = await watchVerification(client, workflowId, (line) => console.log(line));
          console.log(formatVerifyTable(result.tally));
          if (!result.passed) process.exitCode = 1;
          return;
        }
        printResult(await watchMigration(client, workflowId));
      }),
    );
}

/**
 * `retry-failed`: the failure report of a migration that has ended. One still running would import
 * its items beside the retry; a paused or cancelled one's retry is refused by the workflow itself.
 */
export async function retryFailed(
  client: Client,
  settings: TemporalSettings,
  migrationId: string,
  print: (line: string) => void,
  env = process.env,
): Promise<RetryFailuresResult> {
  const execution = await client.workflow
    .getHandle(migrationId)
    .describe()
    .then(
      (d) => d.status.name,
      (err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)),
    );
  if (execution === 'RUNNING')
    throw new Error(`migration ${migrationId} is still running: let it finish (or cancel it), then retry its failures`);
  const limits = resolveApiLimits(env);
  const retryId = `${migrationId}-retry-${Date.now()}`;
  print(`retrying the failure report of ${migrationId} as ${retryId}…`);
  try {
    return await client.workflow.execute(retryFailuresWorkflow, {
      taskQueue: workflowTaskQueue(settings.TIM_TASK_QUEUE_PREFIX),
      workflowId: retryId,
      args: [
        {
          migrationId,
          taskQueuePrefix: settings.TIM_TASK_QUEUE_PREFIX,
          batchSizes: {
            accounts: limits.multiaccount_import.maxItems,
            friends: limits.friend_import.maxItems,
            members: limits.import_group_member.maxItems,
          },
        },
      ],
      staticSummary: `Retry the failures of ${migrationId}`,
    });
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new Error(`retry-failed ${migrationId}: ${rootCause(err.cause)}`, { cause: err });
    throw err;
  }
}

/** `report`: every item IM rejected for good, with its reason code, from the store's failure report. */
function registerReportCommand(program: Command): void {
  program
    .command('report <workflowId>')
    .description('the failure report of a migration: entity, id, API, code, class and reason of every item IM rejected for good')
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option('--entity <entity>', 'only this entity (account, profile, friend, message, readMark, group, member, groupMessage, unreadCount)')
    .action((workflowId: string, opts: { store?: string; entity?: string }) => {
      loadDotEnv();
      const store = new StagingStore(opts.store ?? loadTemporalSettings().TIM_STORE);
      try {
        printFailureReport(store, workflowId, opts.entity, (line) => console.log(line));
      } finally {
        store.close();
      }
    });
}

/**
 * The failure report, then the groups whose history went in behind a mute (the group history
 * handoff): when each was muted, when its own setting came back, and which are muted still.
 */
export function printFailureReport(
  store: StagingStore,
  migrationId: string,
  entity: string | undefined,
  print: (line: string) => void,
): void {
  const counts = store.countByEntity(migrationId);
  if (Object.keys(counts).length === 0) print(`${migrationId}: no failures`);
  else
    print(
      `${migrationId}: ${Object.entries(counts)
        .map(([e, n]) => `${n} ${e}`)
        .join(', ')}`,
    );
  let after: string | undefined;
  do {
    const page = store.failures(migrationId, { after, limit: 500, entity });
    for (const f of page.items) print(`${f.entity}\t${f.itemId}\t${f.api}\t${f.code}\t${f.errorClass}\t${f.reason}`);
    after = page.next;
  } while (after !== undefined);

  const holds = store.groupHistoryHolds(migrationId);
  if (holds.length === 0) return;
  const time = (s?: number) => (s === undefined ? '-' : new Date(s).toISOString());
  const held = holds.filter((h) => h.restoredAt === undefined);
  print('');
  print(
    `Group history handoff: ${holds.length} group(s) muted (MuteAllMember) while their history went in, then given their own setting back` +
      (held.length ? `; ${held.length} still muted until their import ends` : ''),
  );
  for (const h of holds)
    print(`hold\t${h.groupId}\tmuted ${time(h.mutedAt)}\trestored ${time(h.restoredAt)}\town setting ${h.originalMute}`);
}

export function printResult(result: MigrationResult): void {
  const failures = Object.entries(result.failuresByEntity);
  console.log(
    `\n${result.migrationId}: ${result.state} in ${result.elapsedSeconds}s; ` +
      (failures.length
        ? `failure report: ${failures.map(([e, n]) => `${n} ${e}`).join(', ')} (tim-migrate report ${result.migrationId})`
        : 'no failures'),
  );
}
