/**
 * `tim-migrate verify <migrationId> [--sample <share>]`: compare what IM holds with the staging
 * store, through IM's read APIs, as a durable workflow (workflows/verify.ts) run by the workers;
 * `tim-migrate verify --report <verifyId>` lists every difference it stored. The exit code is 0
 * only when IM equals the store (items of the failure report excepted, and counted apart).
 */
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { rootCause } from '@temporalio/common';
import { Command, InvalidArgumentError } from 'commander';
import { StagingStore } from '../../legacy/store';
import { VerifyLedger } from '../../legacy/verify-ledger';
import { workflowTaskQueue } from '../../workflows/task-queues';
import { verifyWorkflow } from '../../workflows/verify';
import {
  formatVerifyTable,
  verifyProgressQuery,
  verifyWorkflowId,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyResult,
} from '../../workflows/verify-api';
import { loadDotEnv, loadTemporalSettings, type TemporalSettings } from '../../workers/settings';
import { connectClient } from '../lib/temporal-connection';

export interface VerifyRequest {
  migrationId: string;
  /** A share in (0, 1] of users (their friends and the conversations they own) and groups. */
  sample?: { share: number; seed: number };
  userConcurrency?: number;
  groupConcurrency?: number;
  historyEventBudget?: number;
}

/**
 * Starts the verification of a migration, or joins the one already running under its id, and waits
 * for its result; `onProgress` sees its progress every `intervalMs`.
 */
export async function runVerification(
  client: Client,
  taskQueuePrefix: string,
  req: VerifyRequest,
  onProgress?: (p: VerifyProgress) => void,
  intervalMs = 2000,
): Promise<VerifyResult> {
  const verifyId = verifyWorkflowId(req.migrationId);
  const options: VerifyOptions = {
    verifyId,
    migrationId: req.migrationId,
    taskQueuePrefix,
    sample: req.sample,
    userConcurrency: req.userConcurrency ?? 50,
    groupConcurrency: req.groupConcurrency ?? 50,
    historyEventBudget: req.historyEventBudget,
  };
  let handle;
  try {
    handle = await client.workflow.start(verifyWorkflow, {
      taskQueue: workflowTaskQueue(taskQueuePrefix),
      workflowId: verifyId,
      args: [{ options }],
      staticSummary: `Verify ${req.migrationId} against IM`,
      staticDetails: req.sample ? `Sample: ${req.sample.share} of users and groups, seed ${req.sample.seed}` : 'Everything the store holds',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    handle = client.workflow.getHandle<typeof verifyWorkflow>(verifyId);
  }
  const timer = onProgress
    ? setInterval(() => {
        handle.query(verifyProgressQuery).then(onProgress, () => undefined);
      }, intervalMs)
    : undefined;
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new Error(`verify ${req.migrationId}: ${rootCause(err.cause)}`, { cause: err });
    throw err;
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** Describes a verification for `status`, or undefined when the id names another kind of workflow. */
export async function verificationStatus(client: Client, workflowId: string): Promise<string | undefined> {
  const handle = client.workflow.getHandle<typeof verifyWorkflow>(workflowId);
  const description = await handle.describe().catch(() => undefined);
  if (description?.type !== verifyWorkflow.name) return undefined;
  const state = description.status.name;
  if (state === 'COMPLETED') {
    const result = await handle.result();
    return `${workflowId}: completed, ${result.passed ? 'IM equals the store' : 'IM differs from the store'} (${result.usersChecked} users, ${result.groupsChecked} groups, ${result.elapsedSeconds}s)\n${formatVerifyTable(result.tally)}`;
  }
  if (state !== 'RUNNING') return `${workflowId}: ${state.toLowerCase().replace('_', ' ')}`;
  const p = await handle.query(verifyProgressQuery);
  return `${workflowId}: running (${p.stage}), ${p.usersChecked} users and ${p.groupsChecked} groups checked, ${p.elapsedSeconds}s elapsed\n${formatVerifyTable(p.tally)}`;
}

/** `watch` of a verification: its status every few seconds until it ends. */
export async function watchVerification(
  client: Client,
  workflowId: string,
  print: (text: string) => void,
  intervalMs = 2000,
): Promise<VerifyResult> {
  const handle = client.workflow.getHandle<typeof verifyWorkflow>(workflowId);
  const timer = setInterval(() => {
    handle.query(verifyProgressQuery).then(
      (p) => print(`${p.stage}: ${p.usersChecked} users, ${p.groupsChecked} groups checked, ${p.elapsedSeconds}s`),
      () => undefined,
    );
  }, intervalMs);
  try {
    return await handle.result();
  } finally {
    clearInterval(timer);
  }
}

function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1)
    throw new InvalidArgumentError(`--sample takes a share in (0, 1], e.g. 0.01 for 1 %; got "${value}"`);
  return n;
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--seed takes a whole number, got "${value}"`);
  return n;
}

/** Prints every difference of a verification, a line each: kind, scope, item, problem, detail. */
export function printDifferences(storePath: string, verifyId: string, print: (line: string) => void): number {
  const store = new StagingStore(storePath);
  try {
    const ledger = new VerifyLedger(store.db);
    const counts = ledger.countDifferences(verifyId);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    print(
      total === 0
        ? `${verifyId}: no differences stored`
        : `${verifyId}: ${Object.entries(counts)
            .map(([k, n]) => `${n} ${k}`)
            .join(', ')}`,
    );
    let after: string | undefined;
    do {
      const page = ledger.differences(verifyId, { after, limit: 500 });
      for (const d of page.items) print([d.kind, d.scope, d.itemId, d.problem, d.detail].join('\t'));
      after = page.next;
    } while (after !== undefined);
    return total;
  } finally {
    store.close();
  }
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify [migrationId]')
    .description(
      'compare IM with the staging store through IM read APIs (content, order, profiles, friends, members, unread counts); exit 0 only when equal',
    )
    .option('--sample <share>', 'check only this share of users and groups, e.g. 0.01 (the same seed picks the same ones)', share)
    .option('--seed <n>', 'seed of the sample', seed, 1)
    .option('--report <verifyId>', 'list the differences a verification stored (kind, scope, item, problem, detail)')
    .option('--store <path>', 'staging store for --report (default: TIM_STORE)')
    .action(async (migrationId: string | undefined, opts: { sample?: number; seed: number; report?: string; store?: string }) => {
      loadDotEnv();
      const settings: TemporalSettings = loadTemporalSettings();
      if (opts.report !== undefined) {
        printDifferences(opts.store ?? settings.TIM_STORE, opts.report, (line) => console.log(line));
        return;
      }
      if (migrationId === undefined) throw new Error('verify needs a migration id (or --report <verifyId>)');
      const client = await connectClient(settings);
      try {
        const sample = opts.sample === undefined ? undefined : { share: opts.sample, seed: opts.seed };
        console.log(
          `verifying ${migrationId} against IM as ${verifyWorkflowId(migrationId)}${sample ? ` (sample ${sample.share}, seed ${sample.seed})` : ''}…`,
        );
        const result = await runVerification(client, settings.TIM_TASK_QUEUE_PREFIX, { migrationId, sample }, (p) =>
          console.log(`${p.stage}: ${p.usersChecked} users, ${p.groupsChecked} groups checked, ${p.elapsedSeconds}s`),
        );
        console.log(formatVerifyTable(result.tally));
        console.log(result.passed ? 'IM equals the store.' : `IM differs from the store: tim-migrate verify --report ${result.verifyId}`);
        if (!result.passed) process.exitCode = 1;
      } finally {
        await client.connection.close();
      }
    });
}
