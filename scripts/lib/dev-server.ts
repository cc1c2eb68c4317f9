/**
 * Starts the Temporal dev server through the SDK (`TestWorkflowEnvironment.createLocal`) with the
 * CLI resolved by ./temporal-cli, our search attributes registered, and optionally the Web UI on
 * a known port. Used by the test suite, the dev stack and the demo.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { describeResolution, resolveTemporalCli } from './temporal-cli';

export interface DevServerOptions {
  /** gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; no UI when omitted. */
  uiPort?: number;
  namespace?: string;
  /** SQLite file to persist workflows across restarts; in memory when omitted. */
  dbFilename?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  env: TestWorkflowEnvironment;
  /** host:port for clients and workers. */
  address: string;
  namespace: string;
  uiUrl?: string;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const resolution = resolveTemporalCli({ build: true, log });
  log(describeResolution(resolution));
  const namespace = opts.namespace ?? 'default';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: resolution.executable,
      namespace,
      ip: '127.0.0.1',
      port: opts.port,
      ui: opts.uiPort !== undefined,
      uiPort: opts.uiPort,
      dbFilename: opts.dbFilename,
      searchAttributes: SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'error' },
      extraArgs: dynamicConfigArgs(),
    },
  });
  return {
    env,
    address: env.address,
    namespace,
    uiUrl: opts.uiPort !== undefined ? `http://127.0.0.1:${opts.uiPort}` : undefined,
    stop: () => env.teardown(),
  };
}

/**
 * The compose server's dynamic config (deploy/temporal-dynamic-config.yaml: task-queue priorities,
 * one partition per queue), as the dev server's command-line values, so both servers agree.
 */
export function dynamicConfigArgs(): string[] {
  const config = parse(readFileSync(join(__dirname, '..', '..', 'deploy', 'temporal-dynamic-config.yaml'), 'utf8')) as Record<
    string,
    Array<{ value: unknown }>
  >;
  return Object.entries(config).flatMap(([key, values]) => ['--dynamic-config-value', `${key}=${JSON.stringify(values[0].value)}`]);
}
