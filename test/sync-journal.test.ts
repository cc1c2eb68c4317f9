/**
 * The sync journal over months: settled events lose their content after the retention (ids and
 * counts stay, so redeliveries are still recognised), and latency percentiles are read from SQLite
 * rather than loaded whole.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StagingStore } from '../legacy/store';
import { SyncJournal } from '../legacy/sync-journal';

describe('sync journal', () => {
  let store: StagingStore;
  let journal: SyncJournal;

  beforeEach(() => {
    store = new StagingStore(join(mkdtempSync(join(tmpdir(), 'tim-journal-')), 'store.sqlite'));
    journal = new SyncJournal(store.db);
  });
  afterEach(() => store.close());

  const event = (id: string, receivedAtMs: number) => ({
    eventId: id,
    direction: 'oldToNew' as const,
    kind: 'message',
    entityId: 'e',
    payload: { body: `personal text of ${id}` },
    receivedAtMs,
    outcome: 'pending' as const,
  });

  test('settled events older than the retention lose their content; pending and recent ones keep it, and a redelivery is still known', () => {
    journal.record(event('old-applied', 1_000));
    journal.settle('old-applied', 'applied', undefined, 2_000);
    journal.record(event('old-pending', 1_000));
    journal.record(event('recent', 9_000));
    journal.settle('recent', 'applied', undefined, 9_500);

    expect(journal.dropSettledPayloads(5_000)).toBe(1);
    expect(journal.get('old-applied')).toMatchObject({ outcome: 'applied', payload: null });
    expect(journal.get('old-pending')?.payload).toEqual({ body: 'personal text of old-pending' });
    expect(journal.get('recent')?.payload).toEqual({ body: 'personal text of recent' });
    expect(journal.record(event('old-applied', 10_000))).toBe(false);
    expect(journal.stats().directions.oldToNew).toMatchObject({ received: 3, applied: 2, pending: 1 });
    expect(journal.dropSettledPayloads(5_000)).toBe(0);
  });

  test('latency percentiles over the window', () => {
    // Latencies 1..200 ms, in shuffled arrival order.
    const latencies = Array.from({ length: 200 }, (_, i) => i + 1).sort((a, b) => ((a * 7919) % 200) - ((b * 7919) % 200));
    latencies.forEach((ms, i) => {
      journal.record(event(`e${i}`, 10_000 + i));
      journal.settle(`e${i}`, 'applied', undefined, 10_000 + i + ms);
    });
    expect(journal.stats().latencyMs.oldToNew).toEqual({ count: 200, p50: 100, p99: 198, max: 200 });
    expect(journal.stats({ sinceMs: 10_000, untilMs: 10_001 }).latencyMs.oldToNew).toEqual({
      count: 1,
      p50: latencies[0],
      p99: latencies[0],
      max: latencies[0],
    });
    expect(journal.stats({ sinceMs: 0, untilMs: 1 }).latencyMs.oldToNew).toEqual({ count: 0, p50: 0, p99: 0, max: 0 });
  });
});
