/**
 * Connections to Temporal for the CLI, with an error that names its fix. The SDK's own says only
 * "Failed to connect before the deadline" (client) or prints a Rust transport error (worker): not
 * which address was tried, nor that a newcomer usually just has no server running yet.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TemporalSettings } from '../../workers/settings';

/** The SDK client's own default deadline for the first connection. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export function temporalUnreachableError(address: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new Error(
    `cannot connect to Temporal at ${address} (TEMPORAL_ADDRESS): ${reason}\n` +
      '  Start a local server with `npm run dev-stack` (it listens on 127.0.0.1:7233, the default), ' +
      'or set TEMPORAL_ADDRESS to your cluster’s frontend (host:port).',
    { cause },
  );
}

/** A client of the settings' namespace. */
export async function connectClient(settings: TemporalSettings, opts: { connectTimeoutMs?: number } = {}): Promise<Client> {
  const address = settings.TEMPORAL_ADDRESS;
  try {
    const connection = await Connection.connect({ address, connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS });
    return new Client({ connection, namespace: settings.TEMPORAL_NAMESPACE });
  } catch (err) {
    throw temporalUnreachableError(address, err);
  }
}

/** The native connection workers and the gateway run on. */
export async function connectNative(address: string): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address });
  } catch (err) {
    throw temporalUnreachableError(address, err);
  }
}
