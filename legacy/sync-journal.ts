/**
 * The sync journal: every live event the gateway accepted, with its content, kept beside the
 * staging store. The gateway writes an event here before it signals Temporal, so workflow
 * histories carry only event ids; the sync activity reads the content back, and records the
 * outcome, which makes a replayed event a no-op. It also holds the sync's run state (set by the
 * sync control workflow) and gives `sync status` and the benchmark their counts and latencies.
 */
import type Database from 'better-sqlite3';
import { CALLBACK_COMMANDS } from '../im/callbacks';
import type { SyncDirection, SyncRunStatus } from '../workflows/sync-api';

export const SYNC_DIRECTIONS: readonly SyncDirection[] = ['oldToNew', 'newToOld'];
/**
 * pending → applied | rejected | imported (a message the bundle's import had written already: same
 * old id); echoes of the tool's own writes are recorded as `echo` and never signalled.
 */
export type SyncOutcome = 'pending' | 'applied' | 'echo' | 'rejected' | 'imported';

export interface JournalEntry {
  eventId: string;
  direction: SyncDirection;
  kind: string;
  entityId: string;
  payload: unknown;
  receivedAtMs: number;
  outcome: SyncOutcome;
  settledAtMs?: number;
  detail?: string;
}

export interface DirectionStats {
  received: number;
  applied: number;
  /** Messages the import had written already (the export/live boundary), dropped. */
  imported: number;
  echo: number;
  rejected: number;
  pending: number;
}
export interface SyncStats {
  status: SyncRunStatus;
  directions: Record<SyncDirection, DirectionStats>;
  /** Received → written on the other side, over applied events. */
  latencyMs: Record<SyncDirection, { count: number; p50: number; p99: number; max: number }>;
  rejectedReasons: Array<{ eventId: string; kind: string; detail: string }>;
  /** The conversations and groups whose oldest pending event is oldest, with how many wait. */
  oldestPending: Array<{ entityId: string; pending: number; oldestReceivedAtMs: number }>;
}

/** How a parked event's reason begins: it failed for longer than the sync's bound and the entity went on. */
export const PARKED_PREFIX = 'parked: ';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sync_events (
  event_id TEXT PRIMARY KEY, direction TEXT NOT NULL, kind TEXT NOT NULL, entity_id TEXT NOT NULL, payload TEXT NOT NULL,
  received_at INTEGER NOT NULL, outcome TEXT NOT NULL, settled_at INTEGER, detail TEXT);
CREATE INDEX IF NOT EXISTS sync_events_by_outcome ON sync_events (outcome, direction);
CREATE INDEX IF NOT EXISTS sync_events_pending_by_entity ON sync_events (entity_id, outcome, received_at);
CREATE TABLE IF NOT EXISTS sync_control (id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, changed_at INTEGER NOT NULL);
`;

/** Wake-ups for `recordedOrAfter`, by entity, shared by every journal over one database in this process (gateway and worker). */
const WAITING = new WeakMap<Database.Database, Map<string, Set<() => void>>>();

export class SyncJournal {
  private readonly stmt;
  private readonly waiting: Map<string, Set<() => void>>;

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.waiting = WAITING.get(db) ?? new Map();
    WAITING.set(db, this.waiting);
    this.stmt = {
      insert: db.prepare(
        `INSERT INTO sync_events (event_id, direction, kind, entity_id, payload, received_at, outcome, settled_at, detail)
         VALUES (@eventId, @direction, @kind, @entityId, @payload, @receivedAtMs, @outcome, @settledAtMs, @detail) ON CONFLICT (event_id) DO NOTHING`,
      ),
      get: db.prepare('SELECT * FROM sync_events WHERE event_id = ?'),
      firstPending: db.prepare(
        "SELECT event_id FROM sync_events WHERE entity_id = ? AND outcome = 'pending' ORDER BY received_at, rowid LIMIT 1",
      ),
      settle: db.prepare("UPDATE sync_events SET outcome = ?, settled_at = ?, detail = ? WHERE event_id = ? AND outcome = 'pending'"),
      control: db.prepare('SELECT status FROM sync_control WHERE id = 1'),
      setControl: db.prepare(
        'INSERT INTO sync_control (id, status, changed_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at',
      ),
    };
  }

  /** Records an event once; false when its id was already known (a redelivery). */
  record(e: Omit<JournalEntry, 'settledAtMs'>): boolean {
    const settled = e.outcome === 'pending' ? null : e.receivedAtMs;
    const recorded =
      this.stmt.insert.run({ ...e, payload: JSON.stringify(e.payload), settledAtMs: settled, detail: e.detail ?? null }).changes === 1;
    if (recorded && e.outcome === 'pending') for (const wake of this.waiting.get(e.entityId) ?? []) wake();
    return recorded;
  }

  /**
   * Resolves as soon as this process records an event of the entity, or after `ms` at the latest:
   * a gateway in another process writes to the same file unseen, so callers look again then.
   */
  recordedOrAfter(entityId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        const set = this.waiting.get(entityId);
        set?.delete(wake);
        if (set?.size === 0) this.waiting.delete(entityId);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      const set = this.waiting.get(entityId) ?? new Set();
      this.waiting.set(entityId, set.add(wake));
    });
  }

  get(eventId: string): JournalEntry | undefined {
    const row = this.stmt.get.get(eventId) as Row | undefined;
    return row && fromRow(row);
  }

  /** The entity's pending event that arrived first (ties in arrival order), if any. */
  firstPendingOf(entityId: string): string | undefined {
    return (this.stmt.firstPending.get(entityId) as { event_id: string } | undefined)?.event_id;
  }

  /** Settles a pending event; false when it was settled already (the write must not happen twice). */
  settle(eventId: string, outcome: Exclude<SyncOutcome, 'pending'>, detail?: string, atMs = Date.now()): boolean {
    return this.stmt.settle.run(outcome, atMs, detail ?? null, eventId).changes === 1;
  }

  /**
   * Sends rejected events back to pending, those parked after failing too long (the reason starts
   * with PARKED_PREFIX) or, with `all`, every rejected one; returns them so each can be signalled.
   */
  reopenRejected(opts: { all?: boolean } = {}): Array<Pick<JournalEntry, 'eventId' | 'direction' | 'kind' | 'entityId'>> {
    const where = opts.all ? "outcome = 'rejected'" : "outcome = 'rejected' AND detail LIKE ? || '%'";
    const params = opts.all ? [] : [PARKED_PREFIX];
    return this.db.transaction(() => {
      const rows = this.db
        .prepare(
          `SELECT event_id AS eventId, direction, kind, entity_id AS entityId FROM sync_events WHERE ${where} ORDER BY received_at, rowid`,
        )
        .all(...params) as Array<Pick<JournalEntry, 'eventId' | 'direction' | 'kind' | 'entityId'>>;
      this.db.prepare(`UPDATE sync_events SET outcome = 'pending', settled_at = NULL, detail = NULL WHERE ${where}`).run(...params);
      return rows;
    })();
  }

  /** One entity's message events, any outcome: what the live sync knows passed through IM for it. */
  messageEventsOf(entityId: string): Array<Pick<JournalEntry, 'direction' | 'kind' | 'payload' | 'receivedAtMs' | 'outcome'>> {
    const rows = this.db
      .prepare(
        "SELECT direction, kind, payload, received_at, outcome FROM sync_events WHERE entity_id = ? AND kind IN ('message', 'group.message', ?, ?)",
      )
      .all(entityId, CALLBACK_COMMANDS.c2cAfterSendMsg, CALLBACK_COMMANDS.groupAfterSendMsg) as Array<{
      direction: SyncDirection;
      kind: string;
      payload: string;
      received_at: number;
      outcome: SyncOutcome;
    }>;
    return rows.map((r) => ({
      direction: r.direction,
      kind: r.kind,
      payload: JSON.parse(r.payload) as unknown,
      receivedAtMs: r.received_at,
      outcome: r.outcome,
    }));
  }

  /** Entities with an event pending since before `beforeMs`, oldest first, with those events' refs. */
  stalePending(beforeMs: number, limit: number): Map<string, Array<Pick<JournalEntry, 'eventId' | 'direction' | 'kind' | 'entityId'>>> {
    const rows = this.db
      .prepare(
        `SELECT event_id AS eventId, direction, kind, entity_id AS entityId FROM sync_events
         WHERE outcome = 'pending' AND received_at < ? ORDER BY received_at, rowid LIMIT ?`,
      )
      .all(beforeMs, limit) as Array<Pick<JournalEntry, 'eventId' | 'direction' | 'kind' | 'entityId'>>;
    const byEntity = new Map<string, typeof rows>();
    for (const r of rows) byEntity.set(r.entityId, [...(byEntity.get(r.entityId) ?? []), r]);
    return byEntity;
  }

  /**
   * Drops the content of events settled before `beforeMs` (their ids, outcomes and times stay, so a
   * late redelivery is still recognised and the counts hold): message bodies are personal data the
   * journal needs only until the event is applied, and for reconciliation's window after it.
   */
  dropSettledPayloads(beforeMs: number): number {
    return this.db
      .prepare("UPDATE sync_events SET payload = 'null' WHERE outcome <> 'pending' AND settled_at < ? AND payload <> 'null'")
      .run(beforeMs).changes;
  }

  status(): SyncRunStatus {
    return (this.stmt.control.get() as { status: SyncRunStatus } | undefined)?.status ?? 'not-started';
  }

  setStatus(status: Exclude<SyncRunStatus, 'not-started'>): void {
    this.stmt.setControl.run(status, Date.now());
  }

  /** Over the events received from `sinceMs` (inclusive) until `untilMs` (exclusive). */
  stats(opts: { sinceMs?: number; untilMs?: number } = {}): SyncStats {
    const since = opts.sinceMs ?? 0;
    const until = opts.untilMs ?? Number.MAX_SAFE_INTEGER;
    const empty = (): DirectionStats => ({ received: 0, applied: 0, imported: 0, echo: 0, rejected: 0, pending: 0 });
    const directions = { oldToNew: empty(), newToOld: empty() };
    const rows = this.db
      .prepare(
        'SELECT direction, outcome, COUNT(*) AS n FROM sync_events WHERE received_at >= ? AND received_at < ? GROUP BY direction, outcome',
      )
      .all(since, until) as Array<{ direction: SyncDirection; outcome: SyncOutcome; n: number }>;
    for (const r of rows) {
      directions[r.direction][r.outcome] += r.n;
      directions[r.direction].received += r.n;
    }
    // Percentiles read one row each from SQLite's sort: a journal of months stays out of this process's memory.
    const applied = "FROM sync_events WHERE direction = ? AND outcome = 'applied' AND received_at >= ? AND received_at < ?";
    const latency = (direction: SyncDirection) => {
      const count = (this.db.prepare(`SELECT COUNT(*) AS n ${applied}`).get(direction, since, until) as { n: number }).n;
      const at = (q: number) =>
        count === 0
          ? 0
          : (
              this.db
                .prepare(`SELECT settled_at - received_at AS ms ${applied} ORDER BY ms LIMIT 1 OFFSET ?`)
                .get(direction, since, until, Math.min(count - 1, Math.ceil(q * count) - 1)) as { ms: number }
            ).ms;
      return { count, p50: at(0.5), p99: at(0.99), max: at(1) };
    };
    const rejectedReasons = this.db
      .prepare(
        "SELECT event_id AS eventId, kind, detail FROM sync_events WHERE outcome = 'rejected' AND received_at >= ? AND received_at < ? ORDER BY settled_at DESC LIMIT 20",
      )
      .all(since, until) as SyncStats['rejectedReasons'];
    const oldestPending = this.db
      .prepare(
        "SELECT entity_id AS entityId, COUNT(*) AS pending, MIN(received_at) AS oldestReceivedAtMs FROM sync_events WHERE outcome = 'pending' GROUP BY entity_id ORDER BY oldestReceivedAtMs LIMIT 10",
      )
      .all() as SyncStats['oldestPending'];
    return {
      status: this.status(),
      directions,
      latencyMs: { oldToNew: latency('oldToNew'), newToOld: latency('newToOld') },
      rejectedReasons,
      oldestPending,
    };
  }
}

interface Row {
  event_id: string;
  direction: SyncDirection;
  kind: string;
  entity_id: string;
  payload: string;
  received_at: number;
  outcome: SyncOutcome;
  settled_at: number | null;
  detail: string | null;
}

function fromRow(r: Row): JournalEntry {
  return {
    eventId: r.event_id,
    direction: r.direction,
    kind: r.kind,
    entityId: r.entity_id,
    payload: JSON.parse(r.payload),
    receivedAtMs: r.received_at,
    outcome: r.outcome,
    settledAtMs: r.settled_at ?? undefined,
    detail: r.detail ?? undefined,
  };
}
