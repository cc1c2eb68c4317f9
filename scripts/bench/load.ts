/**
 * Load benchmark: a 1,000,000-message sample bundle loaded into the staging store (validation
 * included). The load runs in a child process so its peak RSS is the load's alone.
 * Goal: ≥ 50,000 rows/s and peak RSS < 300 MB.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSampleBundle } from '../../legacy/sample';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tim-bench-load-'));
  const bundle = join(dir, 'bundle');
  const t0 = Date.now();
  const sample = await writeSampleBundle(bundle, { seed: 1, users: 20_000, groups: 400, messages: MESSAGES, groupMessages: MESSAGES / 5 });
  const generateSeconds = (Date.now() - t0) / 1000;
  const out = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'load-child.ts'), bundle, join(dir, 'staging.sqlite')], {
    encoding: 'utf8',
  });
  const child = JSON.parse(out.trim().split('\n').pop()!) as { rows: number; seconds: number; maxRssMb: number };
  const result = {
    benchmark: 'load',
    at: new Date().toISOString(),
    bundle: sample.counts,
    generateSeconds,
    rows: child.rows,
    loadSeconds: child.seconds,
    rowsPerSecond: Math.round(child.rows / child.seconds),
    peakRssMb: child.maxRssMb,
    goals: { rowsPerSecond: 50_000, peakRssMb: 300 },
  };
  writeFileSync(join(__dirname, '..', '..', 'bench', 'results', 'load.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `\n| load: rows | seconds | rows/s | peak RSS |\n|---:|---:|---:|---:|\n| ${child.rows} | ${child.seconds.toFixed(1)} | ${result.rowsPerSecond} | ${child.maxRssMb} MB |`,
  );
  rmSync(dir, { recursive: true, force: true });
}

void main();
