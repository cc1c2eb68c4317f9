/**
 * One Temporal dev server for the whole test run (a real server, never a mock). Test files reach it
 * through TIM_TEST_TEMPORAL_ADDRESS and isolate themselves with their own task queues and ids.
 */
import { startDevServer } from '../scripts/lib/dev-server';

export default async function globalSetup(): Promise<void> {
  const server = await startDevServer({ log: (line) => process.stderr.write(`\n${line}\n`) });
  process.env.TIM_TEST_TEMPORAL_ADDRESS = server.address;
  process.env.TIM_TEST_TEMPORAL_NAMESPACE = server.namespace;
  (globalThis as { __timDevServer?: typeof server }).__timDevServer = server;
}
