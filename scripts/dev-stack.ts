/**
 * `npm run dev-stack`: the Temporal dev server with its Web UI on known ports, kept running until
 * Ctrl-C. Workflows persist in a SQLite file in the per-machine cache so a restart keeps them.
 */
import { Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from './lib/dev-server';

const program = new Command('dev-stack')
  .description('start the Temporal dev server and its Web UI')
  .option('--port <port>', 'Temporal gRPC port', '7233')
  .option('--ui-port <port>', 'Temporal Web UI port', '8233')
  .option('--db <file>', 'SQLite file that keeps workflows across restarts', join(homedir(), '.cache', 'tim-migrate', 'dev-stack.sqlite'))
  .option('--in-memory', 'keep nothing after exit')
  .parse();

async function main(): Promise<void> {
  const opts = program.opts<{ port: string; uiPort: string; db: string; inMemory?: boolean }>();
  const server = await startDevServer({
    port: Number(opts.port),
    uiPort: Number(opts.uiPort),
    dbFilename: opts.inMemory ? undefined : opts.db,
  });
  console.log(`Temporal server: ${server.address}  (namespace ${server.namespace})`);
  console.log(`Temporal Web UI: ${server.uiUrl}`);
  console.log('Press Ctrl-C to stop.');
  // The dev server lives in a child process the SDK owns; keep this process (its parent) alive.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const stop = async () => {
    clearInterval(keepAlive);
    await server.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
