/**
 * `tim-migrate <command>`: the one entry point people run (`npm run cli -- <command>` from a
 * checkout). Each command family registers itself from scripts/commands/.
 */
import { Command } from 'commander';
import { registerLegacyCommands } from './commands/legacy';
import { registerMigrationCommands } from './commands/migration';
import { registerSyncCommands } from './commands/sync';
import { registerCutoverCommand } from './commands/cutover';
import { registerPlanCommand } from './commands/plan';
import { registerVerifyCommand } from './commands/verify';
import { registerWorkerCommand } from './commands/worker';

const program = new Command('tim-migrate')
  .description('Move instant messaging history to Tencent Cloud IM and keep both sides in sync, orchestrated by Temporal')
  .showHelpAfterError();

registerLegacyCommands(program);
registerMigrationCommands(program);
registerVerifyCommand(program);
registerPlanCommand(program);
registerCutoverCommand(program);
registerWorkerCommand(program);
registerSyncCommands(program);

program.parseAsync().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
