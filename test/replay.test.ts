/**
 * Upgrading under a running migration: every history recorded by `npm run record-histories`
 * (test/fixtures/histories/<version>/, scripts/lib/recorded-histories.ts) replays on today's
 * workflow code, the same bundle the workers run. A change that would break a migration, a
 * verification or a sync already running (commands in another order, a new activity without
 * `patched()`) fails here, naming the history it breaks. Older versions' folders stay, and keep
 * being replayed for as long as runs of theirs may exist.
 */
import { Worker } from '@temporalio/worker';
import {
  packageVersion,
  readRecordedHistory,
  recordedHistories,
  unrecordedWorkflowTypes,
  type RecordedHistory,
} from '../scripts/lib/recorded-histories';
import { importWorkflowBundle } from '../workers/import-workers';

describe('replay of recorded workflow histories', () => {
  test('every recorded history of every version replays on the current workflow code', async () => {
    const recorded = recordedHistories();
    expect(recorded.length).toBeGreaterThan(0);
    // Histories replay one at a time, in order: each result is of the history given last.
    let current: RecordedHistory | undefined;
    const histories = function* () {
      for (const h of recorded) {
        current = h;
        yield { workflowId: h.workflowId, history: readRecordedHistory(h).json };
      }
    };
    const failures: string[] = [];
    let replayed = 0;
    const options = { workflowBundle: await importWorkflowBundle(), replayName: 'replay-test' };
    for await (const result of Worker.runReplayHistories(options, histories())) {
      replayed++;
      if (result.error) failures.push(`${current?.file}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(recorded.length);
  });

  test('the histories of this version start every workflow type the workers register', () => {
    // A new workflow type needs a case in scripts/record-histories.ts, then `npm run record-histories`.
    expect(unrecordedWorkflowTypes(packageVersion())).toEqual([]);
  });
});
