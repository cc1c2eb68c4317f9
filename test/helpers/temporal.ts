/** Connections to the suite's shared dev server, and ids that keep each test's work apart. */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

export function testTemporalAddress(): { address: string; namespace: string } {
  const address = process.env.TIM_TEST_TEMPORAL_ADDRESS;
  if (!address)
    throw new Error('TIM_TEST_TEMPORAL_ADDRESS is not set: run the tests with `npm test` (jest globalSetup starts the dev server)');
  return { address, namespace: process.env.TIM_TEST_TEMPORAL_NAMESPACE ?? 'default' };
}

/** A task queue or workflow id no other test uses. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface TestTemporal {
  client: Client;
  nativeConnection: NativeConnection;
  namespace: string;
  close(): Promise<void>;
}

export async function connectTestTemporal(): Promise<TestTemporal> {
  const { address, namespace } = testTemporalAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    client: new Client({ connection, namespace }),
    nativeConnection,
    namespace,
    async close() {
      await nativeConnection.close();
      await connection.close();
    },
  };
}
