/**
 * A load's validation thread (two run side by side: the one-to-one messages, and the rest): streams
 * and validates its share of the bundle, turns each good record into
 * store rows, and posts them to the main thread (which only writes to SQLite) in batches. At most
 * MAX_BATCHES_IN_FLIGHT batches wait at a time, so a slow disk bounds memory instead of growing it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BUNDLE_FILES, type BundleEntity, type BundleRecord } from './bundle';
import { createRowBuilder, type StoreRow } from './bundle-rows';
import { validateBundle } from './validate';

export const ROWS_PER_BATCH = 2000;
export const MAX_BATCHES_IN_FLIGHT = 2;

export type LoadWorkerMessage =
  | { type: 'rows'; rows: StoreRow[] }
  | { type: 'issue'; entity: BundleEntity; issue: import('./validate').BundleIssue }
  | { type: 'entityDone'; entity: BundleEntity }
  | { type: 'done'; summary: import('./validate').ValidationSummary }
  | { type: 'error'; message: string };

const {
  dir,
  maxErrors,
  only,
  inFlight: shared,
} = workerData as { dir: string; maxErrors?: number; only: BundleEntity[]; inFlight: SharedArrayBuffer };
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

const entityOf = new Map<string, BundleEntity>(Object.entries(BUNDLE_FILES).map(([e, file]) => [file, e as BundleEntity]));
validateBundle(dir, {
  maxErrors,
  only,
  onIssue: (issue) => post({ type: 'issue', entity: entityOf.get(issue.file) ?? only[0], issue }),
  onEntityDone: (entity) => {
    flush();
    post({ type: 'entityDone', entity });
  },
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
