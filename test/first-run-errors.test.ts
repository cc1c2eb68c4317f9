/**
 * The errors a newcomer meets first name their fix: no Temporal server at TEMPORAL_ADDRESS yet,
 * or a mistyped bundle path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagingStore } from '../legacy/store';
import { validateBundle } from '../legacy/validate';
import { loadTemporalSettings } from '../workers/settings';
import { connectClient, connectNative } from '../scripts/lib/temporal-connection';

/** A local port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('no Temporal server at TEMPORAL_ADDRESS', () => {
  test('the CLI’s client says which address it tried and how to start a local server', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const settings = loadTemporalSettings({ TEMPORAL_ADDRESS: address });
    const err = await connectClient(settings, { connectTimeoutMs: 300 }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`cannot connect to Temporal at ${address} (TEMPORAL_ADDRESS)`);
    expect(err?.message).toContain('npm run dev-stack');
  });

  test('a worker’s connection says the same', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    await expect(connectNative(address)).rejects.toThrow(
      new RegExp(`cannot connect to Temporal at ${address} \\(TEMPORAL_ADDRESS\\)[\\s\\S]*npm run dev-stack`),
    );
  });
});

describe('a bundle path that is not a bundle directory', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tim-first-run-'));
    writeFileSync(join(dir, 'accounts.ndjson'), '{"id":"a"}\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('validate names the directory that does not exist, not accounts.ndjson:0', async () => {
    const missing = join(dir, 'no-such-bundle');
    const issues: unknown[] = [];
    await expect(validateBundle(missing, { onIssue: (i) => issues.push(i) })).rejects.toThrow(`bundle directory ${missing} does not exist`);
    expect(issues).toEqual([]);
  });

  test('load names it too, and loads nothing', async () => {
    const store = new StagingStore(join(dir, 'staging.sqlite'));
    try {
      await expect(store.load(join(dir, 'no-such-bundle'))).rejects.toThrow(
        `bundle directory ${join(dir, 'no-such-bundle')} does not exist`,
      );
      await expect(store.load(join(dir, 'accounts.ndjson'))).rejects.toThrow(
        /accounts\.ndjson is not a directory: a bundle is a directory of accounts\.ndjson, groups\.ndjson/,
      );
      expect(store.accounts({ limit: 10 }).items).toEqual([]);
    } finally {
      store.close();
    }
  });
});
