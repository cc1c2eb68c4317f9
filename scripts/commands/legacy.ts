/** `tim-migrate validate|load|sample`: the old-system side of a migration. */
import { Command, InvalidArgumentError } from 'commander';
import { StagingStore } from '../../legacy/store';
import { formatIssue, validateBundle, type ValidationSummary } from '../../legacy/validate';
import { SAMPLE_DEFAULTS, writeSampleBundle } from '../../legacy/sample';

const count = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name}: expected a whole number, got "${value}"`);
  return n;
};

export function printSummary(summary: ValidationSummary, print: (line: string) => void = console.log): void {
  print('');
  print('entity          records   errors');
  for (const [entity, s] of Object.entries(summary.entities))
    print(`${entity.padEnd(14)} ${String(s.records).padStart(8)} ${String(s.errors).padStart(8)}`);
  print(
    summary.errors ? `${summary.errors} error(s)${summary.truncated ? ' (only the first ones printed: --max-errors)' : ''}` : 'no errors',
  );
}

export function registerLegacyCommands(program: Command): void {
  program
    .command('validate <bundle>')
    .description('check every line of a bundle against IM’s rules and every reference, without writing anything')
    .option('--max-errors <n>', 'print at most this many errors', count('--max-errors'))
    .action(async (bundle: string, opts: { maxErrors?: number }) => {
      const summary = await validateBundle(bundle, { maxErrors: opts.maxErrors, onIssue: (i) => console.log(formatIssue(i)) });
      printSummary(summary);
      if (summary.errors) process.exitCode = 2;
    });

  program
    .command('load <bundle>')
    .description('validate a bundle and load it into the staging store (idempotent)')
    .requiredOption('--store <path>', 'SQLite file of the staging store')
    .option('--max-errors <n>', 'print at most this many errors', count('--max-errors'))
    .option('--force', 'load even though the store records a migration that has not ended (one that was terminated)')
    .action(async (bundle: string, opts: { store: string; maxErrors?: number; force?: boolean }) => {
      const store = new StagingStore(opts.store);
      try {
        const summary = await store.load(bundle, {
          maxErrors: opts.maxErrors,
          force: opts.force,
          onIssue: (i) => console.log(formatIssue(i)),
        });
        printSummary(summary);
        if (summary.errors) {
          console.log('nothing was loaded: fix the errors above and run load again');
          process.exitCode = 2;
          return;
        }
        const rows = Object.values(summary.loaded).reduce((a, b) => a + b, 0);
        console.log(`loaded ${rows} rows into ${opts.store} in ${summary.seconds.toFixed(1)}s`);
      } finally {
        store.close();
      }
    });

  program
    .command('sample')
    .description('write a deterministic sample bundle')
    .requiredOption('--out <dir>', 'directory to write')
    .option('--seed <n>', 'random seed', count('--seed'), 1)
    .option('--users <n>', 'accounts', count('--users'), SAMPLE_DEFAULTS.users)
    .option('--groups <n>', 'groups', count('--groups'), SAMPLE_DEFAULTS.groups)
    .option('--messages <n>', 'one-to-one messages', count('--messages'), SAMPLE_DEFAULTS.messages)
    .option('--group-messages <n>', 'group messages', count('--group-messages'), SAMPLE_DEFAULTS.groupMessages)
    .option('--with-errors', 'append a known set of bad records')
    .action(async (opts) => {
      const result = await writeSampleBundle(opts.out, {
        seed: opts.seed,
        users: opts.users,
        groups: opts.groups,
        messages: opts.messages,
        groupMessages: opts.groupMessages,
        withErrors: opts.withErrors,
      });
      console.log(
        `wrote ${opts.out}: ${Object.entries(result.counts)
          .map(([e, n]) => `${n} ${e}`)
          .join(', ')}`,
      );
      if (result.errors.length) console.log(`with ${result.errors.length} deliberate errors`);
    });
}
