/**
 * `tim-migrate plan`: before anything is written, what the staging store holds per phase, the time
 * each phase needs at the rate table and the import's whole bound, the accounts IM already has
 * (account_check), what IM will refuse, and what users will not see with the console's defaults.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { ImClient } from '../../im/client';
import { loadImConfig } from '../../im/config';
import { ImError } from '../../im/errors';
import { resolveApiLimits } from '../../im/apis';
import { formatPlan, planMigration } from '../../legacy/plan';
import { StagingStore } from '../../legacy/store';
import { loadDotEnv, loadTemporalSettings, parseSettings } from '../../workers/settings';

export const PlanSettings = z.object({
  /** IM keeps this many days of history by default (7; 30 on Ultimate; more as a paid add-on). */
  TIM_ROAMING_DAYS: z.coerce.number().int().positive().default(7),
});

/** Accounts of the store IM already holds, read at account_check's rate (a rate-limit answer waits and asks again). */
export async function countExistingAccounts(
  im: ImClient,
  store: StagingStore,
  callsPerSecond: number,
  pageSize = 100,
): Promise<{ existing: number; checked: number }> {
  let existing = 0;
  let checked = 0;
  let after: string | undefined;
  const gapMs = 1000 / callsPerSecond;
  do {
    const page = store.accountIds({ after, limit: pageSize });
    if (page.items.length > 0) {
      const started = Date.now();
      for (;;) {
        try {
          const found = await im.accountCheck(page.items);
          existing += [...found.values()].filter(Boolean).length;
          break;
        } catch (err) {
          if (!(err instanceof ImError && (err.errorClass === 'rate-limited' || err.errorClass === 'retryable'))) throw err;
          await new Promise((r) => setTimeout(r, 1500));
        }
      }
      checked += page.items.length;
      await new Promise((r) => setTimeout(r, Math.max(0, gapMs - (Date.now() - started))));
    }
    after = page.next;
  } while (after !== undefined);
  return { existing, checked };
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      'before anything is written: counts per phase, time at the rate table, accounts already in IM, what IM will refuse or hide',
    )
    .option('--store <path>', 'staging store (default: TIM_STORE)')
    .option('--no-account-check', 'do not ask IM which accounts it already has (no IM settings needed)')
    .action(async (opts: { store?: string; accountCheck: boolean }) => {
      loadDotEnv();
      const { TIM_ROAMING_DAYS } = parseSettings(PlanSettings, process.env);
      const storePath = opts.store ?? loadTemporalSettings().TIM_STORE;
      const store = new StagingStore(storePath);
      try {
        if (store.totals().accounts === 0)
          throw new Error(`${storePath} holds no bundle: run tim-migrate load <bundle> --store ${storePath} first`);
        const limits = resolveApiLimits();
        const plan = planMigration(store.db, limits, { nowS: Math.floor(Date.now() / 1000), roamingDays: TIM_ROAMING_DAYS });
        let existing: { existing: number; checked: number } | undefined;
        if (opts.accountCheck) {
          const config = loadImConfig();
          existing = await countExistingAccounts(new ImClient(config.client), store, config.limits.account_check.callsPerSecond);
        }
        console.log(formatPlan(plan, existing));
      } finally {
        store.close();
      }
    });
}
