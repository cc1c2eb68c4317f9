/** docker-compose.yml cannot run here (no Docker engine), so check that its services wire together. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { dynamicConfigArgs } from '../scripts/lib/dev-server';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  depends_on?: string[] | Record<string, unknown>;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(join(__dirname, '..', 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;
const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe('docker-compose.yml', () => {
  test('has the Temporal server on PostgreSQL, the Web UI, admin tools and the project workers', () => {
    expect(Object.keys(services).sort()).toEqual(
      expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', 'temporal-admin-tools', 'tim-migrate-worker']),
    );
    expect(services.temporal.environment?.POSTGRES_SEEDS).toBe('postgresql');
    expect(dependsOn(services.temporal)).toContain('postgresql');
  });

  test('the server loads the dynamic config that turns task-queue priorities on (one partition per queue), as the dev server does', () => {
    const path = services.temporal.environment?.DYNAMIC_CONFIG_FILE_PATH;
    const mount = services.temporal.volumes?.find((v) => v.split(':')[1] === path);
    expect(mount).toBeDefined();
    const config = parse(readFileSync(join(__dirname, '..', mount!.split(':')[0]), 'utf8')) as Record<string, Array<{ value: unknown }>>;
    expect(config['matching.useNewMatcher']).toEqual([{ value: true }]);
    expect(config['matching.numTaskqueueReadPartitions']).toEqual([{ value: 1 }]);
    expect(config['matching.numTaskqueueWritePartitions']).toEqual([{ value: 1 }]);
    expect(dynamicConfigArgs()).toEqual(
      ['matching.useNewMatcher=true', 'matching.numTaskqueueReadPartitions=1', 'matching.numTaskqueueWritePartitions=1'].flatMap((v) => [
        '--dynamic-config-value',
        v,
      ]),
    );
  });

  test('every client of Temporal points at the temporal service on its gRPC port', () => {
    const grpcPort = services.temporal.ports?.map((p) => p.split(':').pop()).find((p) => p === '7233');
    expect(grpcPort).toBe('7233');
    for (const name of ['temporal-ui', 'temporal-admin-tools', 'tim-migrate-worker']) {
      expect(services[name].environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(dependsOn(services[name])).toContain('temporal');
    }
  });

  test('the worker runs the CLI worker command from this repository and requires the IM settings', () => {
    const worker = services['tim-migrate-worker'];
    expect(worker.build).toBeDefined();
    expect(worker.command).toContain('worker');
    for (const setting of ['TIM_SDKAPPID', 'TIM_SECRET_KEY', 'TIM_ADMIN']) {
      expect(worker.environment?.[setting]).toMatch(new RegExp(`\\$\\{${setting}:\\?`));
    }
    const cliSource = readFileSync(join(__dirname, '..', worker.command![worker.command!.indexOf('worker') - 1]), 'utf8');
    expect(cliSource).toContain('registerWorkerCommand');
  });

  test('the coexistence profile runs the gateway and a sync worker on the same store, requiring the bridge settings', () => {
    const gateway = services['tim-migrate-gateway'];
    const syncWorker = services['tim-migrate-sync-worker'];
    expect(gateway.command).toContain('gateway');
    expect(syncWorker.command).toEqual(expect.arrayContaining(['worker', '--sync']));
    for (const s of [gateway, syncWorker]) {
      expect(s.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(s.environment?.TIM_STORE).toBe(services['tim-migrate-worker'].environment?.TIM_STORE);
      for (const setting of ['TIM_LEGACY_BRIDGE_URL', 'TIM_LEGACY_WEBHOOK_SECRET'])
        expect(s.environment?.[setting]).toMatch(new RegExp(`\\$\\{${setting}:\\?`));
    }
    // The gateway refuses to start without a callback token: compose must ask for one, not pass an empty one.
    expect(gateway.environment?.TIM_CALLBACK_TOKEN).toMatch(/^\$\{TIM_CALLBACK_TOKEN:\?/);
    expect(gateway.ports).toContain(`${gateway.environment?.TIM_GATEWAY_PORT}:8787`);
    const cliSource = readFileSync(join(__dirname, '..', 'scripts', 'commands', 'sync.ts'), 'utf8');
    expect(cliSource).toContain(".command('gateway')");
  });
});
