/**
 * `tim-migrate cutover-report <migrationId>`: the go/no-go of a mandatory upgrade, from what the
 * tool knows: the migration (normally the final delta, started after the old system was frozen)
 * completed, a verification of it ran after it and found IM equal to the store, and the failure
 * report holds only what the team accepts to leave behind. Exit 0 for GO.
 */
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { Command } from 'commander';
import { StagingStore } from '../../legacy/store';
import type { MigrationResult } from '../../workflows/api';
import { verifyWorkflowId, type VerifyResult } from '../../workflows/verify-api';
import { loadDotEnv, loadTemporalSettings } from '../../workers/settings';
import { connectClient } from '../lib/temporal-connection';

/** Failures IM refuses by design (a group type it cannot import): known before the import, see `plan`. */
const ACCEPTED_BY_DEFAULT = ['unsupported'];

export interface CutoverCheck {
  ok: boolean;
  what: string;
}

export interface CutoverReport {
  go: boolean;
  checks: CutoverCheck[];
}

async function closedRun<T>(client: Client, workflowId: string): Promise<{ status: string; closeTime?: Date; result?: T } | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const d = await handle.describe();
    const status = d.status.name;
    return { status, closeTime: d.closeTime, result: status === 'COMPLETED' ? ((await handle.result()) as T) : undefined };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * The checks, in the order a cutover needs them. `acceptFailures` names entities (account, message,
 * groupMessage, …) whose reported items the team has reviewed and accepts to leave behind.
 */
export async function cutoverReport(
  client: Client,
  store: StagingStore,
  migrationId: string,
  acceptFailures: string[] = [],
): Promise<CutoverReport> {
  const checks: CutoverCheck[] = [];
  const migration = await closedRun<MigrationResult>(client, migrationId);
  if (!migration) throw new Error(`no migration with workflow id ${migrationId}`);
  const completed = migration.result?.state === 'completed';
  checks.push({
    ok: completed,
    what: completed
      ? `migration ${migrationId} completed`
      : `migration ${migrationId} is ${migration.result?.state ?? migration.status.toLowerCase()}: let it complete (resume it, or start the delta again)`,
  });

  const verifyId = verifyWorkflowId(migrationId);
  const verification = await closedRun<VerifyResult>(client, verifyId);
  const afterImport = !!verification?.closeTime && !!migration.closeTime && verification.closeTime >= migration.closeTime;
  if (!verification) checks.push({ ok: false, what: `not verified: run tim-migrate verify ${migrationId}` });
  else if (verification.status === 'RUNNING') checks.push({ ok: false, what: `verification ${verifyId} is still running` });
  else if (!verification.result || !afterImport)
    checks.push({
      ok: false,
      what: `verification ${verifyId} did not complete after the migration: run tim-migrate verify ${migrationId} again`,
    });
  else if (verification.result.sample)
    checks.push({
      ok: false,
      what: `verification ${verifyId} checked a sample (${verification.result.sample.share}): verify everything before the cutover`,
    });
  else if (!verification.result.passed)
    checks.push({ ok: false, what: `verification ${verifyId} found differences: tim-migrate verify --report ${verifyId}` });
  else
    checks.push({
      ok: true,
      what: `verification ${verifyId}: IM equals the store (${verification.result.usersChecked} users, ${verification.result.groupsChecked} groups)`,
    });

  const accepted = new Set(acceptFailures);
  const failures = store.countByEntityAndClass(migrationId);
  if (failures.length === 0) checks.push({ ok: true, what: 'the failure report is empty' });
  for (const f of failures) {
    const ok = ACCEPTED_BY_DEFAULT.includes(f.errorClass) || accepted.has(f.entity);
    const why = ACCEPTED_BY_DEFAULT.includes(f.errorClass)
      ? 'IM cannot take them'
      : ok
        ? 'accepted with --accept-failures'
        : `review them (tim-migrate report ${migrationId} --entity ${f.entity}), retry-failed, or accept them with --accept-failures ${f.entity}`;
    checks.push({ ok, what: `${f.n} ${f.entity} item(s) in the failure report (${f.errorClass}): ${why}` });
  }
  return { go: checks.every((c) => c.ok), checks };
}

export function formatCutoverReport(report: CutoverReport): string {
  const lines = report.checks.map((c) => `${c.ok ? '[ok]  ' : '[NO]  '}${c.what}`);
  lines.push('', report.go ? 'GO: switch App 1.0 users over.' : 'NO-GO: fix the [NO] lines above first.');
  return lines.join('\n');
}

export function registerCutoverCommand(program: Command): void {
  program
    .command('cutover-report <migrationId>')
    .description(
      'go/no-go of a mandatory upgrade: the (final delta) migration completed, verified after it with IM equal to the store, failures reviewed; exit 0 for GO',
    )
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option(
      '--accept-failures <entities>',
      'comma-separated entities whose reported items you accept to leave behind',
      (v: string) =>
        v
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean),
      [] as string[],
    )
    .action(async (migrationId: string, opts: { store?: string; acceptFailures: string[] }) => {
      loadDotEnv();
      const settings = loadTemporalSettings();
      const store = new StagingStore(opts.store ?? settings.TIM_STORE);
      const client = await connectClient(settings);
      try {
        const report = await cutoverReport(client, store, migrationId, opts.acceptFailures);
        console.log(formatCutoverReport(report));
        if (!report.go) process.exitCode = 1;
      } finally {
        await client.connection.close();
        store.close();
      }
    });
}
