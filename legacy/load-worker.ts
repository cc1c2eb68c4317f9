/**
 * The load's validation thread: streams and validates the bundle, turns each good record into
 * store rows, and posts them to the main thread (which only writes to SQLite) in batches. At most
 * MAX_BATCHES_IN_FLIGHT batches wait at a time, so a slow disk bounds memory instead of growing it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BundleEntity, BundleRecord } from './bundle';
import { createRowBuilder, type StoreRow } from './bundle-rows';
import { validateBundle } from './validate';

export const ROWS_PER_BATCH = 2000;
export const MAX_BATCHES_IN_FLIGHT = 2;

export type LoadWorkerMessage =
  | { type: 'rows'; rows: StoreRow[] }
  | { type: 'issue'; issue: import('./validate').BundleIssue }
  | { type: 'done'; summary: import('./validate').ValidationSummary }
  | { type: 'error'; message: string };

const { dir, maxErrors, inFlight: shared } = workerData as { dir: string; maxErrors?: number; inFlight: SharedArrayBuffer };
const inFlight = new Int32Array(shared);
const post = (m: LoadWorkerMessage) => parentPort!.postMessage(m);
const rowsOf = createRowBuilder();
let batch: StoreRow[] = [];

function flush(): void {
  if (batch.length === 0) return;
  for (let n = Atomics.load(inFlight, 0); n >= MAX_BATCHES_IN_FLIGHT; n = Atomics.load(inFlight, 0)) Atomics.wait(inFlight, 0, n);
  Atomics.add(inFlight, 0, 1);
  post({ type: 'rows', rows: batch });
  batch = [];
}

validateBundle(dir, {
  maxErrors,
  onIssue: (issue) => post({ type: 'issue', issue }),
  onRecord: <E extends BundleEntity>(entity: E, record: BundleRecord<E>) => {
    for (const row of (rowsOf[entity] as (r: BundleRecord<E>) => StoreRow[])(record)) batch.push(row);
    if (batch.length >= ROWS_PER_BATCH) flush();
  },
}).then(
  ({ index: _index, ...summary }) => {
    flush();
    post({ type: 'done', summary });
  },
  (err: unknown) => post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
);
