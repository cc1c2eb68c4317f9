/**
 * Finds or builds the Temporal CLI (which embeds the dev server). Machines here reach no download
 * site, so the SDK cannot fetch the dev server itself; we build it from its Go module once per
 * machine and keep it in a cache outside the repo. Order, first hit wins:
 *   1. TEMPORAL_CLI_PATH   2. `temporal` on PATH   3. the per-machine cache
 *   4. `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into the cache (when Go is present)
 *   5. the SDK's own cached download (for users with internet access)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** v1.5.1 is the newest release that builds with a plain `go install` (no replace directives). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type TemporalCliSource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install' | 'sdk download';

export type DevServerExecutable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

export interface TemporalCliResolution {
  executable: DevServerExecutable;
  source: TemporalCliSource;
  /** Why each earlier option was not used, in order. */
  skipped: string[];
}

export function temporalCliCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.TIM_MIGRATE_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tim-migrate');
  return join(base, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** A binary that runs and prints a version; a broken file in the cache must not be trusted. */
function runs(path: string): boolean {
  return spawnSync(path, ['--version'], { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * Resolve the CLI. With `build: false` it never compiles (for quick checks); the test command and
 * the demo call it with `build: true` so a fresh machine builds once and reuses the cache after.
 */
export function resolveTemporalCli(
  opts: { build: boolean; log?: (line: string) => void },
  env: NodeJS.ProcessEnv = process.env,
): TemporalCliResolution {
  const log = opts.log ?? (() => undefined);
  const skipped: string[] = [];
  const found = (path: string, source: TemporalCliSource): TemporalCliResolution => ({
    executable: { type: 'existing-path', path },
    source,
    skipped,
  });

  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv) && runs(fromEnv)) return found(fromEnv, 'TEMPORAL_CLI_PATH');
    skipped.push(`TEMPORAL_CLI_PATH=${fromEnv} is not a runnable executable`);
  } else {
    skipped.push('TEMPORAL_CLI_PATH is not set');
  }

  const fromPath = onPath('temporal', env);
  if (fromPath && runs(fromPath)) return found(fromPath, 'PATH');
  skipped.push(fromPath ? `${fromPath} on PATH does not run` : '`temporal` is not on PATH');

  const cacheDir = temporalCliCacheDir(env);
  const cached = join(cacheDir, 'temporal');
  if (existsSync(cached) && runs(cached)) return found(cached, 'cache');
  skipped.push(`no working CLI in the cache ${cacheDir}`);

  const go = onPath('go', env) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go && opts.build) {
    mkdirSync(cacheDir, { recursive: true });
    log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go} into ${cacheDir} (once per machine, a few minutes)…`);
    try {
      execFileSync(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
        env: { ...env, GOBIN: cacheDir, CGO_ENABLED: '0' },
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 30 * 60_000,
      });
      if (runs(cached)) return found(cached, 'go install');
      skipped.push(`go install finished but ${cached} does not run`);
    } catch (err) {
      skipped.push(`go install failed: ${(err as Error).message.split('\n')[0]}`);
    }
  } else {
    skipped.push(go ? 'building was not requested' : 'Go is not installed');
  }

  return { executable: { type: 'cached-download' }, source: 'sdk download', skipped };
}

export function describeResolution(r: TemporalCliResolution): string {
  const where = r.executable.type === 'existing-path' ? r.executable.path : "the SDK's cached download (needs internet)";
  return `Temporal CLI: ${where} (from ${r.source}; ${r.skipped.length ? 'skipped: ' + r.skipped.join('; ') : 'first choice'})`;
}

/** The Temporal CLI version line, for logs. */
export function temporalCliVersion(path: string): string {
  return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
}
