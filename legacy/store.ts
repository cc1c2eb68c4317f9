/**
 * The staging store: the bundle loaded into SQLite (better-sqlite3, WAL), with the indexes the
 * import pages through by keyset (never offsets), the id mapping in both directions, and the
 * failure report, and each migration's run state. It implements the import's `LegacySource`,
 * `FailureSink` and `RunStates`.
 *
 * The SQL is plain (row-value comparisons, upserts with ON CONFLICT) so that a PostgreSQL driver
 * can run the same statements; only this file knows the driver.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type {
  AcceptedBy,
  AcceptedId,
  AcceptedKind,
  FailureRecord,
  FailureSink,
  ImportAccount,
  ImportC2CMessage,
  ImportFriend,
  ImportGroup,
  ImportGroupMember,
  ImportGroupMessage,
  ImportProfile,
  ImportReadMark,
  LegacySource,
  ImportTotals,
  MigrationRunState,
  Page,
  PageChain,
  PagePlan,
  PagePlanRequest,
  PlannedPage,
  PageRequest,
  OwnedItems,
  ReadMarkScope,
  RunStates,
  GroupHistoryHold,
} from './source';
import { GROUP_ID_HELD_BY_OTHERS_CODE } from '../im/errors';
import { NON_IMPORTABLE_GROUP_TYPES, PROFILE_TAGS, type GroupType, type MsgBody } from '../im/messages';
import { BUNDLE_ENTITIES, BUNDLE_FILES, type AccountRecord, type BundleEntity, type FriendshipRecord, type GroupRecord } from './bundle';
import { toImGroupId, toImUserId } from './id-mapping';
import type { StoreRow } from './bundle-rows';
import type { LoadWorkerMessage } from './load-worker';
import { statementCache } from './statements';
import { SyncJournal } from './sync-journal';
import { requireBundleDir, type BundleIssue, type ValidationSummary } from './validate';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS id_map (kind TEXT NOT NULL, old_id TEXT NOT NULL, im_id TEXT NOT NULL, PRIMARY KEY (kind, old_id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS id_map_by_im ON id_map (kind, im_id);
CREATE TABLE IF NOT EXISTS accounts (im_id TEXT PRIMARY KEY, old_id TEXT NOT NULL, profile TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS friendships (owner TEXT NOT NULL, friend TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (owner, friend)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  old_id TEXT PRIMARY KEY, conv_owner TEXT NOT NULL, conv_peer TEXT NOT NULL, sender TEXT NOT NULL, receiver TEXT NOT NULL,
  time INTEGER NOT NULL, body TEXT NOT NULL, cloud TEXT, ordinal INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS read_marks (reader TEXT NOT NULL, peer TEXT NOT NULL, conv_owner TEXT NOT NULL, read_up_to INTEGER NOT NULL, PRIMARY KEY (reader, peer)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (im_id TEXT PRIMARY KEY, old_id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members (group_id TEXT NOT NULL, account TEXT NOT NULL, role TEXT NOT NULL, join_time INTEGER, unread INTEGER NOT NULL, PRIMARY KEY (group_id, account)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_messages (
  old_id TEXT PRIMARY KEY, group_id TEXT NOT NULL, sender TEXT NOT NULL, time INTEGER NOT NULL, body TEXT NOT NULL,
  ordinal INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures (
  migration_id TEXT NOT NULL, entity TEXT NOT NULL, item_id TEXT NOT NULL, api TEXT NOT NULL, code INTEGER NOT NULL,
  error_class TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (migration_id, entity, item_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_history_imported (group_id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_history_holds (
  group_id TEXT PRIMARY KEY, migration_id TEXT NOT NULL, original_mute TEXT NOT NULL, muted_at INTEGER, restored_at INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_states (migration_id TEXT PRIMARY KEY, state TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accepted (
  kind TEXT NOT NULL, id TEXT NOT NULL, id2 TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (kind, id, id2)) WITHOUT ROWID;
`;
/** Secondary indexes for keyset paging; built after a bulk load, which is faster than maintaining them row by row. */
const INDEXES = `
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conv_owner, conv_peer, time, ordinal);
CREATE INDEX IF NOT EXISTS read_marks_by_owner ON read_marks (conv_owner, reader, peer);
CREATE INDEX IF NOT EXISTS group_messages_by_group ON group_messages (group_id, time, ordinal);
`;

const DROP_INDEXES =
  'DROP INDEX IF EXISTS messages_by_conversation; DROP INDEX IF EXISTS read_marks_by_owner; DROP INDEX IF EXISTS group_messages_by_group;';

/**
 * A message's `ordinal` is its place in the loads: the bundle's line order, after every message an
 * earlier load brought (an upsert keeps it). Within a second a conversation's or group's messages go
 * in ordinal order, and a one-to-one message's MsgSeq counts those before it (legacy/id-mapping.ts).
 */
const EARLIER_IN_SECOND = `(SELECT COUNT(*) FROM messages e
  WHERE e.conv_owner = m.conv_owner AND e.conv_peer = m.conv_peer AND e.time = m.time AND e.ordinal < m.ordinal) AS earlier`;

/**
 * A row IM has not accepted yet (the `accepted` table, written per item when IM answers OK): the
 * pages below leave accepted items out, so every run after the first is incremental. `id2` is the
 * second id of a pair item ('' for single ids).
 */
const notAccepted = (kind: AcceptedKind, id: string, id2 = "''") =>
  `NOT EXISTS (SELECT 1 FROM accepted a WHERE a.kind = '${kind}' AND a.id = ${id} AND a.id2 = ${id2})`;
const acceptedKey = (id: AcceptedId): [string, string] => (typeof id === 'string' ? [id, ''] : [id[0], id[1]]);

/**
 * A load that changes a row IM accepted makes IM's copy stale: the row is sent again. For each
 * table whose IM write overwrites (profiles, friends, read marks, unread counts), the accepted
 * records its changed row invalidates, from the row's parameters. Messages are not sent again:
 * importmsg keeps the first copy of an identity, and groups and members IM takes only once.
 */
const STALE_ON_CHANGE: Partial<Record<StoreRow[0], Array<{ kind: AcceptedKind; ids: (params: unknown[]) => [unknown, unknown] }>>> = {
  // The account too: with multiaccount_import's AccountList, nick and face go with it.
  account: [
    { kind: 'account', ids: (p) => [p[0], ''] },
    { kind: 'profile', ids: (p) => [p[0], ''] },
  ],
  friendship: [{ kind: 'friend', ids: (p) => [p[0], p[1]] }],
  readMark: [{ kind: 'readMark', ids: (p) => [p[0], p[1]] }],
  member: [{ kind: 'unreadCount', ids: (p) => [p[0], p[1]] }],
};

const encode = (parts: Array<string | number>): string => JSON.stringify(parts);
const decode = <T extends Array<string | number>>(cursor: string | undefined, fallback: T): T =>
  cursor === undefined ? fallback : (JSON.parse(cursor) as T);
/** Below every real key: '' sorts first, -1 precedes every timestamp. */
const START = '';
/**
 * A chain of pages may always be this long, however short the conversations in it, so that users
 * with many short conversations still get full pages.
 */
export const CHAIN_PAGES_AT_LEAST = 8;

export interface LoadSummary extends ValidationSummary {
  loaded: Record<BundleEntity, number>;
  seconds: number;
}

export class StagingStore implements LegacySource, FailureSink, RunStates {
  readonly db: Database.Database;
  /** A prepared statement, prepared once. */
  private readonly statement: (sql: string) => Database.Statement;

  constructor(path: string) {
    this.db = new Database(path);
    this.statement = statementCache(this.db);
    this.db.pragma('journal_mode = WAL');
    // better-sqlite3 builds SQLite with WAL at synchronous NORMAL, which can lose the last commits on
    // a power cut: the gateway acknowledges an event once its journal row commits, so FULL.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    if (this.db.prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'ordinal'").get() === undefined) {
      throw new Error(`${path}: a staging store of an earlier version (it keeps no bundle order): load the bundle into a new store`);
    }
    this.db.exec(INDEXES);
  }

  close(): void {
    this.db.close();
  }

  /**
   * Validate, then load. Idempotent: loading the same bundle twice gives the same state (every
   * row is an upsert on its natural key). A bundle with errors is not loaded at all.
   */
  async load(dir: string, opts: { onIssue?: (i: BundleIssue) => void; maxErrors?: number; force?: boolean } = {}): Promise<LoadSummary> {
    requireBundleDir(dir);
    if (!opts.force) this.refuseLoadWhileInUse();
    const started = Date.now();
    const loaded = Object.fromEntries(BUNDLE_ENTITIES.map((e) => [e, 0])) as Record<BundleEntity, number>;
    const upsert = {
      idMap: this.db.prepare(
        'INSERT INTO id_map (kind, old_id, im_id) VALUES (?, ?, ?) ON CONFLICT (kind, old_id) DO UPDATE SET im_id = excluded.im_id',
      ),
      account: this.db.prepare(
        'INSERT INTO accounts (im_id, old_id, profile) VALUES (?, ?, ?) ON CONFLICT (im_id) DO UPDATE SET old_id = excluded.old_id, profile = excluded.profile WHERE profile IS NOT excluded.profile OR old_id IS NOT excluded.old_id',
      ),
      friendship: this.db.prepare(
        'INSERT INTO friendships (owner, friend, data) VALUES (?, ?, ?) ON CONFLICT (owner, friend) DO UPDATE SET data = excluded.data WHERE data IS NOT excluded.data',
      ),
      message: this.db.prepare(
        `INSERT INTO messages (old_id, conv_owner, conv_peer, sender, receiver, time, body, cloud, ordinal)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (old_id) DO UPDATE SET conv_owner = excluded.conv_owner, conv_peer = excluded.conv_peer, sender = excluded.sender,
           receiver = excluded.receiver, time = excluded.time, body = excluded.body, cloud = excluded.cloud`,
      ),
      readMark: this.db.prepare(
        'INSERT INTO read_marks (reader, peer, conv_owner, read_up_to) VALUES (?, ?, ?, ?) ON CONFLICT (reader, peer) DO UPDATE SET read_up_to = excluded.read_up_to WHERE read_up_to IS NOT excluded.read_up_to',
      ),
      group: this.db.prepare(
        'INSERT INTO groups (im_id, old_id, type, data) VALUES (?, ?, ?, ?) ON CONFLICT (im_id) DO UPDATE SET old_id = excluded.old_id, type = excluded.type, data = excluded.data',
      ),
      member: this.db.prepare(
        `INSERT INTO group_members (group_id, account, role, join_time, unread) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (group_id, account) DO UPDATE SET role = excluded.role, join_time = excluded.join_time, unread = excluded.unread
           WHERE role IS NOT excluded.role OR join_time IS NOT excluded.join_time OR unread IS NOT excluded.unread`,
      ),
      groupMessage: this.db.prepare(
        `INSERT INTO group_messages (old_id, group_id, sender, time, body, ordinal) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (old_id) DO UPDATE SET group_id = excluded.group_id, sender = excluded.sender, time = excluded.time, body = excluded.body`,
      ),
    };
    const forget = this.db.prepare('DELETE FROM accepted WHERE kind = ? AND id = ? AND id2 = ?');
    // One pass: each record is written as soon as it passes its checks, inside one transaction
    // that is rolled back if the bundle has any error, so a bad bundle loads nothing.
    this.db.pragma('synchronous = OFF');
    // A big page cache keeps the one load transaction from spilling pages early.
    this.db.pragma('cache_size = -16384');
    // Secondary indexes are rebuilt once after the bulk load: faster than maintaining them row by row.
    this.db.exec(DROP_INDEXES);
    this.db.exec('BEGIN');
    // Each thread posts its file's rows in line order: new messages go after every one held already.
    const lastOrdinal = (table: string) =>
      (this.db.prepare(`SELECT COALESCE(MAX(ordinal), 0) AS n FROM ${table}`).get() as { n: number }).n;
    const ordinals: Partial<Record<StoreRow[0], number>> = {
      message: lastOrdinal('messages'),
      groupMessage: lastOrdinal('group_messages'),
    };
    let validation: ValidationSummary;
    try {
      validation = await this.validateInWorker(dir, opts, (rows) => {
        for (const [table, ...params] of rows) {
          const ordinal = ordinals[table];
          if (ordinal !== undefined) {
            upsert[table].run(...params, (ordinals[table] = ordinal + 1));
            continue;
          }
          // A new or changed row (an unchanged one updates nothing): IM's copy, if any, is stale.
          if (upsert[table].run(...params).changes === 0) continue;
          for (const stale of STALE_ON_CHANGE[table] ?? []) forget.run(stale.kind, ...stale.ids(params));
        }
      });
      this.db.exec(validation.errors > 0 ? 'ROLLBACK' : 'COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.db.exec(INDEXES);
      this.db.pragma('synchronous = FULL');
    }
    if (validation.errors === 0) {
      for (const e of BUNDLE_ENTITIES) loaded[e] = validation.entities[e].records;
      // Planner statistics from a sample of each index: enough to pick the keyset indexes, and quick.
      this.db.pragma('analysis_limit = 1000');
      this.db.exec('ANALYZE');
    }
    return { ...validation, loaded, seconds: (Date.now() - started) / 1000 };
  }

  /**
   * A load drops the paging indexes and holds one write transaction for its whole length: the
   * pages of a migration would crawl through full scans meanwhile, and every write of a migration
   * or of the live sync (failure report, run state, sync journal) would find the store locked.
   */
  private refuseLoadWhileInUse(): void {
    const risk = 'a load now would drop the indexes its pages read and lock the store until the load ends';
    const migrations = this.statement(
      "SELECT migration_id AS id, state FROM run_states WHERE state IN ('running', 'paused') ORDER BY migration_id",
    ).all() as Array<{ id: string; state: string }>;
    if (migrations.length > 0) {
      const which = migrations.map((m) => `${m.id} (${m.state})`).join(', ');
      throw new Error(
        `this store has a migration that has not ended: ${which}; ${risk}. Let it finish or cancel it, then load ` +
          '(if it no longer runs at all, e.g. it was terminated, load with --force)',
      );
    }
    const sync = new SyncJournal(this.db).status();
    if (sync !== 'not-started') {
      throw new Error(
        `the live sync of this store is ${sync} (the gateway keeps journaling events); ${risk}. Load into a new store instead`,
      );
    }
  }

  /**
   * Validation, id mapping and row building run in two worker threads (legacy/load-worker.ts): one
   * for the one-to-one messages, the biggest file, which needs only the account ids, and one for the
   * rest. This thread writes their rows to SQLite as they come, in batches with back-pressure, and
   * prints their issues in the bundle's entity order.
   */
  private validateInWorker(
    dir: string,
    opts: { onIssue?: (i: BundleIssue) => void; maxErrors?: number },
    write: (rows: StoreRow[]) => void,
  ): Promise<ValidationSummary> {
    const shares: BundleEntity[][] = [['messages'], BUNDLE_ENTITIES.filter((e) => e !== 'messages')];
    // Each thread's heap holds little beyond the account and group ids (the other ids are hashed,
    // off the heap): a small cap keeps garbage from piling up, sized to the bundle's id files.
    const idFileBytes = (['accounts', 'groups'] as const).reduce(
      (n, e) => n + (existsSync(join(dir, BUNDLE_FILES[e])) ? statSync(join(dir, BUNDLE_FILES[e])).size : 0),
      0,
    );
    const resourceLimits = { maxOldGenerationSizeMb: 96 + Math.ceil((2 * idFileBytes) / 2 ** 20), maxYoungGenerationSizeMb: 8 };
    // Issues in entity order, whichever thread finds them: the current entity's are printed as they
    // come, later entities' wait until the entities before them are done.
    const pending = new Map<BundleEntity, BundleIssue[]>();
    const finished = new Set<BundleEntity>();
    let current = 0;
    let printed = 0;
    const print = (issue: BundleIssue) => {
      if (opts.maxErrors === undefined || printed < opts.maxErrors) opts.onIssue?.(issue);
      printed++;
    };
    const advance = () => {
      while (current < BUNDLE_ENTITIES.length && finished.has(BUNDLE_ENTITIES[current])) {
        current++;
        const next = BUNDLE_ENTITIES[current];
        if (next !== undefined) for (const issue of pending.get(next) ?? []) print(issue);
        if (next !== undefined) pending.delete(next);
      }
    };
    const workers: Worker[] = [];
    let stopped = false;
    const summaries = shares.map(
      (only) =>
        new Promise<ValidationSummary>((resolve, reject) => {
          const inFlight = new SharedArrayBuffer(4);
          const counter = new Int32Array(inFlight);
          // The worker is TypeScript: tsx (a dependency) compiles it, whatever runs this thread.
          const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(join(__dirname, 'load-worker.ts'))});`, {
            eval: true,
            workerData: { dir, maxErrors: opts.maxErrors, only, inFlight },
            resourceLimits,
          });
          workers.push(worker);
          let settled = false;
          const finish = (err: Error | undefined, summary?: ValidationSummary) => {
            if (settled) return;
            settled = true;
            void worker.terminate();
            if (err) reject(err);
            else resolve(summary!);
          };
          worker.on('message', (m: LoadWorkerMessage) => {
            // Once one thread failed, the load is being rolled back: nothing more may be written.
            if (stopped) return;
            try {
              if (m.type === 'rows') {
                write(m.rows);
                Atomics.sub(counter, 0, 1);
                Atomics.notify(counter, 0);
              } else if (m.type === 'issue') {
                if (m.entity === BUNDLE_ENTITIES[current]) print(m.issue);
                else pending.set(m.entity, [...(pending.get(m.entity) ?? []), m.issue]);
              } else if (m.type === 'entityDone') {
                finished.add(m.entity);
                advance();
              } else if (m.type === 'done') finish(undefined, m.summary);
              else finish(new Error(`bundle validation failed: ${m.message}`));
            } catch (err) {
              finish(err as Error);
            }
          });
          worker.on('error', (err) =>
            finish(
              (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
                ? new Error(`bundle validation thread ran out of its ${resourceLimits.maxOldGenerationSizeMb} MB heap`)
                : err,
            ),
          );
          worker.on('exit', (code) => finish(new Error(`bundle validation thread stopped (exit code ${code})`)));
        }),
    );
    return Promise.all(summaries).then(
      ([messages, rest]) => {
        const entities = { ...rest.entities, messages: messages.entities.messages };
        const errors = messages.errors + rest.errors;
        return { entities, errors, truncated: opts.maxErrors !== undefined && errors > opts.maxErrors };
      },
      (err: unknown) => {
        stopped = true;
        for (const w of workers) void w.terminate();
        throw err;
      },
    );
  }

  // Id mapping, both directions. Ids that needed no mapping are their own mapping.
  toImUserId(oldId: string): string {
    return toImUserId(oldId);
  }
  toOldUserId(imId: string): string {
    const row = this.statement("SELECT old_id FROM id_map WHERE kind = 'user' AND im_id = ?").get(imId) as { old_id: string } | undefined;
    return row?.old_id ?? imId;
  }
  toImGroupId(oldId: string, type: GroupType): string {
    return toImGroupId(oldId, type);
  }
  toOldGroupId(imId: string): string {
    const row = this.statement("SELECT old_id FROM id_map WHERE kind = 'group' AND im_id = ?").get(imId) as { old_id: string } | undefined;
    return row?.old_id ?? imId;
  }
  /** The IM id of an old group: recorded mapping, bundle group, or the rule applied as for a Public group. */
  imGroupIdOf(oldId: string): string {
    const row = this.statement("SELECT im_id FROM id_map WHERE kind = 'group' AND old_id = ?").get(oldId) as { im_id: string } | undefined;
    if (row) return row.im_id;
    const known = this.statement('SELECT im_id FROM groups WHERE old_id = ?').get(oldId) as { im_id: string } | undefined;
    return known?.im_id ?? toImGroupId(oldId, 'Public');
  }
  /** Record a mapping made after the load (a group or user created during the live sync). */
  recordIdMapping(kind: 'user' | 'group', oldId: string, imId: string): void {
    if (oldId !== imId)
      this.statement('INSERT INTO id_map (kind, old_id, im_id) VALUES (?, ?, ?) ON CONFLICT (kind, old_id) DO NOTHING').run(
        kind,
        oldId,
        imId,
      );
  }
  mappedIds(kind: 'user' | 'group'): Array<{ oldId: string; imId: string }> {
    return this.statement('SELECT old_id AS oldId, im_id AS imId FROM id_map WHERE kind = ? ORDER BY old_id').all(kind) as Array<{
      oldId: string;
      imId: string;
    }>;
  }

  // Import → sync handoff: a bundle group's live events wait until its history import has ended.
  markGroupHistoryImported(groupId: string): void {
    this.statement('INSERT INTO group_history_imported (group_id, at) VALUES (?, ?) ON CONFLICT (group_id) DO NOTHING').run(
      groupId,
      Date.now(),
    );
  }
  groupHistoryHold(groupId: string): GroupHistoryHold | undefined {
    const row = this.statement('SELECT migration_id, original_mute, muted_at, restored_at FROM group_history_holds WHERE group_id = ?').get(
      groupId,
    ) as { migration_id: string; original_mute: 'On' | 'Off'; muted_at: number | null; restored_at: number | null } | undefined;
    if (!row) return undefined;
    return {
      groupId,
      migrationId: row.migration_id,
      originalMute: row.original_mute,
      mutedAt: row.muted_at ?? undefined,
      restoredAt: row.restored_at ?? undefined,
    };
  }
  recordGroupHistoryHold(hold: { groupId: string; migrationId: string; originalMute: 'On' | 'Off' }): void {
    this.statement(
      `INSERT INTO group_history_holds (group_id, migration_id, original_mute) VALUES (?, ?, ?) ON CONFLICT (group_id) DO UPDATE
       SET migration_id = excluded.migration_id, original_mute = excluded.original_mute, muted_at = NULL, restored_at = NULL`,
    ).run(hold.groupId, hold.migrationId, hold.originalMute);
  }
  markGroupHistoryHold(groupId: string, event: 'muted' | 'restored'): void {
    const column = event === 'muted' ? 'muted_at' : 'restored_at';
    this.statement(`UPDATE group_history_holds SET ${column} = ? WHERE group_id = ?`).run(Date.now(), groupId);
  }
  groupHistoryHolds(migrationId: string): GroupHistoryHold[] {
    const rows = this.statement('SELECT group_id FROM group_history_holds WHERE migration_id = ? ORDER BY group_id').all(
      migrationId,
    ) as Array<{ group_id: string }>;
    return rows.map((r) => this.groupHistoryHold(r.group_id)!);
  }
  groupHistoryPending(groupId: string): boolean {
    const inBundle = this.statement('SELECT 1 FROM groups WHERE im_id = ?').get(groupId) !== undefined;
    return inBundle && this.statement('SELECT 1 FROM group_history_imported WHERE group_id = ?').get(groupId) === undefined;
  }

  // What IM accepted (AcceptedRecord).
  markAccepted(kind: AcceptedKind, ids: readonly AcceptedId[], by: AcceptedBy = 'import'): void {
    if (ids.length === 0) return;
    const insert = this.statement(
      'INSERT INTO accepted (kind, id, id2, by, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, id, id2) DO NOTHING',
    );
    const at = Date.now();
    this.db.transaction(() => {
      for (const id of ids) insert.run(kind, ...acceptedKey(id), by, at);
    })();
  }
  markGroupMessagesAccepted(groupId: string, oldIds: readonly string[], by: AcceptedBy = 'import'): void {
    if (oldIds.length === 0) return;
    this.db.transaction(() => {
      this.markAccepted('groupMessage', oldIds, by);
      this.statement("DELETE FROM accepted WHERE kind = 'unreadCount' AND id = ?").run(groupId);
    })();
  }
  isAccepted(kind: AcceptedKind, id: AcceptedId): boolean {
    return this.statement('SELECT 1 FROM accepted WHERE kind = ? AND id = ? AND id2 = ?').get(kind, ...acceptedKey(id)) !== undefined;
  }
  forgetImported(): void {
    this.statement("DELETE FROM accepted WHERE by = 'import'").run();
  }

  // RunStates
  setRunState(migrationId: string, state: MigrationRunState): void {
    this.statement(
      'INSERT INTO run_states (migration_id, state, at) VALUES (?, ?, ?) ON CONFLICT (migration_id) DO UPDATE SET state = excluded.state, at = excluded.at',
    ).run(migrationId, state, Date.now());
  }
  /** Whether this migration ever started against this store (it records its run state before any work). */
  hasRunState(migrationId: string): boolean {
    return this.statement('SELECT 1 FROM run_states WHERE migration_id = ?').get(migrationId) !== undefined;
  }
  runState(migrationId: string): MigrationRunState {
    const row = this.statement('SELECT state FROM run_states WHERE migration_id = ?').get(migrationId) as
      { state: MigrationRunState } | undefined;
    return row?.state ?? 'running';
  }

  // LegacySource
  totals(): ImportTotals {
    return this.countItems(false);
  }
  pendingTotals(): ImportTotals {
    return this.countItems(true);
  }
  private countItems(pendingOnly: boolean): ImportTotals {
    const count = (sql: string) => (this.statement(sql).get() as { n: number }).n;
    const pending = (kind: AcceptedKind, id: string, id2?: string) => (pendingOnly ? `AND ${notAccepted(kind, id, id2)}` : '');
    // Members and history of groups IM cannot import are not expected to arrive: the failure report lists the group.
    const importable = `group_id NOT IN (SELECT im_id FROM groups WHERE type IN (${NON_IMPORTABLE_GROUP_TYPES.map((t) => `'${t}'`).join(', ')}))`;
    return {
      accounts: count(`SELECT COUNT(*) AS n FROM accounts WHERE 1 = 1 ${pending('account', 'im_id')}`),
      profiles: count(`SELECT COUNT(*) AS n FROM accounts WHERE 1 = 1 ${pending('profile', 'im_id')}`),
      friends: count(`SELECT COUNT(*) AS n FROM friendships WHERE 1 = 1 ${pending('friend', 'owner', 'friend')}`),
      messages: count(`SELECT COUNT(*) AS n FROM messages WHERE 1 = 1 ${pending('message', 'old_id')}`),
      readMarks: count(`SELECT COUNT(*) AS n FROM read_marks WHERE 1 = 1 ${pending('readMark', 'reader', 'peer')}`),
      groups: count(`SELECT COUNT(*) AS n FROM groups WHERE 1 = 1 ${pending('group', 'im_id')}`),
      members: count(
        `SELECT COUNT(*) AS n FROM group_members WHERE role <> 'owner' AND ${importable} ${pending('member', 'group_id', 'account')}`,
      ),
      groupMessages: count(`SELECT COUNT(*) AS n FROM group_messages WHERE ${importable} ${pending('groupMessage', 'old_id')}`),
      unreadCounts: count(
        `SELECT COUNT(*) AS n FROM group_members WHERE unread > 0 AND ${importable} ${pending('unreadCount', 'group_id', 'account')}`,
      ),
    };
  }

  accountIds(page: PageRequest): Page<string> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement('SELECT im_id FROM accounts WHERE im_id > ? ORDER BY im_id LIMIT ?')
      .pluck()
      .all(after, page.limit) as string[];
    return { items: rows, next: rows.length === page.limit ? encode([rows[rows.length - 1]]) : undefined };
  }

  pendingAccountIds(page: PageRequest): Page<string> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement(`SELECT im_id FROM accounts WHERE im_id > ? AND ${notAccepted('account', 'im_id')} ORDER BY im_id LIMIT ?`)
      .pluck()
      .all(after, page.limit) as string[];
    return { items: rows, next: rows.length === page.limit ? encode([rows[rows.length - 1]]) : undefined };
  }

  accounts(page: PageRequest): Page<ImportAccount> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement(
      `SELECT im_id, profile FROM accounts WHERE im_id > ? AND ${notAccepted('account', 'im_id')} ORDER BY im_id LIMIT ?`,
    ).all(after, page.limit) as Array<{ im_id: string; profile: string }>;
    const items = rows.map((r) => {
      const p = JSON.parse(r.profile) as Omit<AccountRecord, 'id'>;
      return { userId: r.im_id, nick: p.nick, faceUrl: p.faceUrl };
    });
    return { items, next: rows.length === page.limit ? encode([rows[rows.length - 1].im_id]) : undefined };
  }

  groupIds(page: PageRequest): Page<string> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement('SELECT im_id FROM groups WHERE im_id > ? ORDER BY im_id LIMIT ?')
      .pluck()
      .all(after, page.limit) as string[];
    return { items: rows, next: rows.length === page.limit ? encode([rows[rows.length - 1]]) : undefined };
  }

  profile(userId: string): ImportProfile | undefined {
    const row = this.statement('SELECT profile FROM accounts WHERE im_id = ?').get(userId) as { profile: string } | undefined;
    if (!row) return undefined;
    return { userId, items: profileItems(JSON.parse(row.profile)) };
  }

  friends(userId: string, page: PageRequest): Page<ImportFriend> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement(
      `SELECT friend, data FROM friendships WHERE owner = ? AND friend > ? AND ${notAccepted('friend', 'owner', 'friend')} ORDER BY friend LIMIT ?`,
    ).all(userId, after, page.limit) as Array<{ friend: string; data: string }>;
    const items = rows.map(friendFromRow);
    return { items, next: rows.length === page.limit ? encode([rows[rows.length - 1].friend]) : undefined };
  }

  /** Skipping accepted messages changes no identity: `earlier` counts every message of the second. */
  ownedMessages(userId: string, page: PageRequest): Page<ImportC2CMessage> {
    const [peer, time, ordinal] = decode(page.after, [START, -1, -1]);
    const rows = this.db
      .prepare(
        `SELECT old_id, conv_peer, sender, receiver, time, body, cloud, ordinal, ${EARLIER_IN_SECOND} FROM messages m
         WHERE conv_owner = ? AND (conv_peer, time, ordinal) > (?, ?, ?) AND ${notAccepted('message', 'm.old_id')} ORDER BY conv_peer, time, ordinal LIMIT ?`,
      )
      .all(userId, peer, time, ordinal, page.limit) as Array<C2CRow & { conv_peer: string; ordinal: number }>;
    const last = rows[rows.length - 1];
    const next = rows.length === page.limit ? encode([last.conv_peer, last.time, last.ordinal]) : undefined;
    return { items: rows.map(c2cFromRow), next };
  }

  planOwnedPages(userId: string, items: OwnedItems, plan: PagePlanRequest): PagePlan {
    // Keys only, no bodies; one key more than the plan can hold says whether more follow.
    const limit = plan.pageSize * plan.pages + 1;
    const keys: Array<{ cursor: string; conversation?: string }> = [];
    if (items === 'messages') {
      const [peer, time, ordinal] = decode(plan.after, [START, -1, -1]);
      const rows = this.statement(
        `SELECT conv_peer, time, ordinal FROM messages m WHERE conv_owner = ? AND (conv_peer, time, ordinal) > (?, ?, ?) AND ${notAccepted('message', 'm.old_id')}
         ORDER BY conv_peer, time, ordinal LIMIT ?`,
      ).all(userId, peer, time, ordinal, limit) as Array<{ conv_peer: string; time: number; ordinal: number }>;
      for (const r of rows) keys.push({ cursor: encode([r.conv_peer, r.time, r.ordinal]), conversation: r.conv_peer });
    } else {
      // Read marks have no order among themselves: every page is a chain of its own.
      for (const r of this.readMarkKeys(userId, plan.after, limit, plan.scope)) keys.push({ cursor: encode([r.reader, r.peer]) });
    }
    // Keys left in each key's conversation (the last one may go on past the keys read: unbounded).
    const leftInConversation = new Array<number>(keys.length);
    for (let i = keys.length - 1; i >= 0; i--) {
      const sameNext = i + 1 < keys.length && keys[i + 1].conversation === keys[i].conversation;
      leftInConversation[i] = sameNext ? leftInConversation[i + 1] + 1 : keys.length === limit && i === keys.length - 1 ? Infinity : 1;
    }
    // A chain may run on into the next conversation (full pages use the rate best), but no longer
    // than the longest conversation's own chain, which bounds the import anyway: a conversation
    // that would take the chain past that starts a new chain, and the page before it ends early.
    // A conversation's count is largest at its first key.
    const longestConversation = Math.min(limit, Math.max(0, ...leftInConversation));
    const chainLimit = Math.max(CHAIN_PAGES_AT_LEAST, Math.ceil(longestConversation / plan.pageSize));

    const chains: PageChain[] = [];
    let planned = 0;
    let pages = 0;
    while (pages < plan.pages && planned < keys.length) {
      const first = planned;
      const continues =
        first > 0 && keys[first - 1].conversation !== undefined && keys[first - 1].conversation === keys[first].conversation;
      const chain = continues ? chains[chains.length - 1] : undefined;
      let end = first + 1;
      for (; end < keys.length && end - first < plan.pageSize; end++) {
        const startsConversation = keys[end].conversation !== keys[end - 1].conversation;
        const chainEndsOnPage = (chain?.pages.length ?? 0) + Math.ceil((end - first + leftInConversation[end]) / plan.pageSize);
        if (startsConversation && chainEndsOnPage > chainLimit) break;
      }
      const page: PlannedPage = { after: first > 0 ? keys[first - 1].cursor : (plan.after ?? null), items: end - first };
      // A conversation whose last key is on this page ends here (one that goes on past the keys read does not).
      const finishes = keys.slice(first, end).filter((k, i) => k.conversation !== undefined && leftInConversation[first + i] === 1);
      if (finishes.length > 0) page.finishes = finishes.map((k) => ({ peer: k.conversation as string, readMarks: 0 }));
      if (chain) chain.pages.push(page);
      else chains.push({ pages: [page] });
      planned = end;
      pages++;
    }
    const finished = chains.flatMap((c) => c.pages.flatMap((p) => p.finishes ?? []));
    if (finished.length > 0) {
      const marks = this.readMarkCounts(
        userId,
        finished.map((f) => f.peer),
      );
      for (const f of finished) f.readMarks = marks.get(f.peer) ?? 0;
    }
    return { chains, next: planned < keys.length ? keys[planned - 1].cursor : undefined };
  }

  /** How many read marks (one per side) each of the owner's conversations with these peers has. */
  private readMarkCounts(owner: string, peers: string[]): Map<string, number> {
    const rows = this.statement(
      `SELECT j.value AS peer,
         EXISTS (SELECT 1 FROM read_marks WHERE reader = @owner AND peer = j.value AND ${notAccepted('readMark', 'reader', 'peer')})
         + EXISTS (SELECT 1 FROM read_marks WHERE reader = j.value AND peer = @owner AND ${notAccepted('readMark', 'reader', 'peer')}) AS marks
       FROM json_each(@peers) j`,
    ).all({ owner, peers: JSON.stringify(peers) }) as Array<{ peer: string; marks: number }>;
    return new Map(rows.map((r) => [r.peer, r.marks]));
  }

  ownedReadMarks(userId: string, page: PageRequest, scope?: ReadMarkScope): Page<ImportReadMark> {
    // One row more than the page says whether another page follows: a page of conversations' marks
    // is filled exactly (user-import.ts), and an empty page after it would cost a token of the rate.
    const rows = this.readMarkKeys(userId, page.after, page.limit + 1, scope);
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return {
      items: items.map((r) => ({ reader: r.reader, peer: r.peer, readUpTo: r.read_up_to })),
      next: rows.length > page.limit ? encode([last.reader, last.peer]) : undefined,
    };
  }

  private readMarkKeys(
    userId: string,
    after: string | undefined,
    limit: number,
    scope?: ReadMarkScope,
  ): Array<{ reader: string; peer: string; read_up_to: number }> {
    const [reader, peer] = decode(after, [START, START]);
    // The conversation's other side, and whether the conversation holds messages.
    const other = 'CASE WHEN reader = conv_owner THEN peer ELSE reader END';
    // Messages still to import: a conversation whose messages an earlier run imported is one without.
    const hasMessages = `EXISTS (SELECT 1 FROM messages m WHERE m.conv_owner = read_marks.conv_owner AND m.conv_peer = ${other} AND ${notAccepted('message', 'm.old_id')})`;
    const [where, params] =
      scope === undefined
        ? ['', []]
        : scope === 'withoutMessages'
          ? [`AND NOT ${hasMessages}`, []]
          : [`AND ${other} IN (SELECT value FROM json_each(?))`, [JSON.stringify(scope.peers)]];
    return this.statement(
      `SELECT reader, peer, read_up_to FROM read_marks WHERE conv_owner = ? AND (reader, peer) > (?, ?) AND ${notAccepted('readMark', 'reader', 'peer')} ${where}
       ORDER BY reader, peer LIMIT ?`,
    ).all(userId, reader, peer, ...params, limit) as Array<{ reader: string; peer: string; read_up_to: number }>;
  }

  group(groupId: string): ImportGroup | undefined {
    const row = this.statement('SELECT im_id, type, data FROM groups WHERE im_id = ?').get(groupId) as
      { im_id: string; type: string; data: string } | undefined;
    if (!row) return undefined;
    const d = JSON.parse(row.data) as Omit<GroupRecord, 'id' | 'type'>;
    return {
      groupId: row.im_id,
      type: row.type,
      ownerId: d.owner,
      name: d.name,
      introduction: d.introduction,
      notification: d.notification,
      faceUrl: d.faceUrl,
      createTime: d.createTime,
      maxMemberCount: d.maxMembers,
      applyJoinOption: d.applyJoin,
      appDefinedData: d.appData ? Object.entries(d.appData).map(([Key, Value]) => ({ Key, Value })) : undefined,
    };
  }

  /** Members other than the owner (import_group adds the owner itself). */
  groupMembers(groupId: string, page: PageRequest): Page<ImportGroupMember> {
    const [after] = decode(page.after, [START]);
    const rows = this.db
      .prepare(
        `SELECT account, role, join_time, unread FROM group_members WHERE group_id = ? AND role <> 'owner' AND account > ? AND ${notAccepted('member', 'group_id', 'account')}
         ORDER BY account LIMIT ?`,
      )
      .all(groupId, after, page.limit) as Array<{ account: string; role: string; join_time: number | null; unread: number }>;
    return { items: rows.map(memberFromRow), next: rows.length === page.limit ? encode([rows[rows.length - 1].account]) : undefined };
  }

  groupMessages(groupId: string, page: PageRequest): Page<ImportGroupMessage> {
    // The cursor also carries how many messages came before: counting them would read the whole history so far.
    const [time, ordinal, earlier] = decode(page.after, [-1, -1, 0]);
    const rows = this.db
      .prepare(
        'SELECT old_id, sender, time, body, ordinal FROM group_messages WHERE group_id = ? AND (time, ordinal) > (?, ?) ORDER BY time, ordinal LIMIT ?',
      )
      .all(groupId, time, ordinal, page.limit) as Array<GroupMessageRow & { ordinal: number }>;
    const last = rows[rows.length - 1];
    return {
      items: rows.map((r, i) => groupMessageFromRow(r, earlier + i)),
      next: rows.length === page.limit ? encode([last.time, last.ordinal, earlier + rows.length]) : undefined,
    };
  }

  groupUnreadCounts(groupId: string, page: PageRequest): Page<ImportGroupMember> {
    const [after] = decode(page.after, [START]);
    const rows = this.db
      .prepare(
        `SELECT account, role, join_time, unread FROM group_members WHERE group_id = ? AND unread > 0 AND account > ? AND ${notAccepted('unreadCount', 'group_id', 'account')}
         ORDER BY account LIMIT ?`,
      )
      .all(groupId, after, page.limit) as Array<{ account: string; role: string; join_time: number | null; unread: number }>;
    return { items: rows.map(memberFromRow), next: rows.length === page.limit ? encode([rows[rows.length - 1].account]) : undefined };
  }

  // What verification expects, read page by page like the import.
  conversations(page: PageRequest): Page<{ owner: string; peer: string; messages: number }> {
    const [owner, peer] = decode(page.after, [START, START]);
    const rows = this.db
      .prepare(
        `SELECT conv_owner AS owner, conv_peer AS peer, COUNT(*) AS messages FROM messages WHERE (conv_owner, conv_peer) > (?, ?)
         GROUP BY conv_owner, conv_peer ORDER BY conv_owner, conv_peer LIMIT ?`,
      )
      .all(owner, peer, page.limit) as Array<{ owner: string; peer: string; messages: number }>;
    const last = rows[rows.length - 1];
    return { items: rows, next: rows.length === page.limit ? encode([last.owner, last.peer]) : undefined };
  }

  /** The peers of the one-to-one conversations a user owns (verification walks them one by one). */
  ownedConversationPeers(owner: string, page: PageRequest): Page<string> {
    const [after] = decode(page.after, [START]);
    const rows = this.statement('SELECT DISTINCT conv_peer FROM messages WHERE conv_owner = ? AND conv_peer > ? ORDER BY conv_peer LIMIT ?')
      .pluck()
      .all(owner, after, page.limit) as string[];
    return { items: rows, next: rows.length === page.limit ? encode([rows[rows.length - 1]]) : undefined };
  }

  /** One conversation's messages in the order the import sends them. */
  conversationMessages(owner: string, peer: string): ImportC2CMessage[] {
    const rows = this.statement(
      `SELECT old_id, sender, receiver, time, body, cloud, ${EARLIER_IN_SECOND} FROM messages m WHERE conv_owner = ? AND conv_peer = ? ORDER BY time, ordinal`,
    ).all(owner, peer) as C2CRow[];
    return rows.map(c2cFromRow);
  }

  /** One group's messages in the order the import sends them. */
  allGroupMessages(groupId: string): ImportGroupMessage[] {
    const rows = this.statement('SELECT old_id, sender, time, body FROM group_messages WHERE group_id = ? ORDER BY time, ordinal').all(
      groupId,
    ) as GroupMessageRow[];
    return rows.map(groupMessageFromRow);
  }

  conversationMessageIds(owner: string, peer: string): string[] {
    return this.statement('SELECT old_id FROM messages WHERE conv_owner = ? AND conv_peer = ? ORDER BY time, ordinal')
      .pluck()
      .all(owner, peer) as string[];
  }

  /** Every friend of one user, in friend order. */
  allFriends(owner: string): ImportFriend[] {
    const rows = this.statement('SELECT friend, data FROM friendships WHERE owner = ? ORDER BY friend').all(owner) as Array<{
      friend: string;
      data: string;
    }>;
    return rows.map(friendFromRow);
  }

  friendIds(owner: string): string[] {
    return this.statement('SELECT friend FROM friendships WHERE owner = ? ORDER BY friend').pluck().all(owner) as string[];
  }

  /** Every member (owner included) with role and unread count. */
  allGroupMembers(groupId: string): ImportGroupMember[] {
    const rows = this.statement('SELECT account, role, join_time, unread FROM group_members WHERE group_id = ? ORDER BY account').all(
      groupId,
    ) as Array<{ account: string; role: string; join_time: number | null; unread: number }>;
    return rows.map(memberFromRow);
  }

  groupMessageCount(groupId: string): number {
    return (this.statement('SELECT COUNT(*) AS n FROM group_messages WHERE group_id = ?').get(groupId) as { n: number }).n;
  }

  /** Failure-report item ids of one entity (verification leaves these out of "expected"). */
  failedItemIds(migrationId: string, entity: string): Set<string> {
    return new Set(
      this.statement('SELECT item_id FROM failures WHERE migration_id = ? AND entity = ?').pluck().all(migrationId, entity) as string[],
    );
  }

  // FailureSink: the failure report, keyed so a retried item overwrites its earlier entry.
  record(f: FailureRecord): void {
    this.db
      .prepare(
        `INSERT INTO failures (migration_id, entity, item_id, api, code, error_class, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (migration_id, entity, item_id) DO UPDATE SET api = excluded.api, code = excluded.code, error_class = excluded.error_class, reason = excluded.reason, at = excluded.at`,
      )
      .run(f.migrationId, f.entity, f.itemId, f.api, f.code, f.errorClass, f.reason, Date.now());
  }

  /**
   * Why an IM group id is someone else's group in IM, when an import found so (its failure report
   * says 10021): the live sync must then neither write into it nor forward its events.
   */
  groupHeldByOthers(imGroupId: string): string | undefined {
    const row = this.statement("SELECT reason FROM failures WHERE entity = 'group' AND item_id = ? AND code = ? LIMIT 1").get(
      imGroupId,
      GROUP_ID_HELD_BY_OTHERS_CODE,
    ) as { reason: string } | undefined;
    return row?.reason;
  }

  /** The failure report's counts by entity and error class (the cutover report weighs classes apart). */
  countByEntityAndClass(migrationId: string): Array<{ entity: string; errorClass: string; n: number }> {
    return this.statement(
      'SELECT entity, error_class AS errorClass, COUNT(*) AS n FROM failures WHERE migration_id = ? GROUP BY entity, error_class ORDER BY entity, error_class',
    ).all(migrationId) as Array<{ entity: string; errorClass: string; n: number }>;
  }

  countByEntity(migrationId: string): Record<string, number> {
    const rows = this.statement('SELECT entity, COUNT(*) AS n FROM failures WHERE migration_id = ? GROUP BY entity ORDER BY entity').all(
      migrationId,
    ) as Array<{ entity: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.entity, r.n]));
  }

  isFailed(migrationId: string, entity: string, itemId: string): boolean {
    return (
      this.statement('SELECT 1 FROM failures WHERE migration_id = ? AND entity = ? AND item_id = ?').get(migrationId, entity, itemId) !==
      undefined
    );
  }

  /** An item that now went through is no longer a failure. */
  clearFailure(migrationId: string, entity: string, itemId: string): void {
    this.statement('DELETE FROM failures WHERE migration_id = ? AND entity = ? AND item_id = ?').run(migrationId, entity, itemId);
  }

  // Single items, for retrying the failure report.
  message(oldId: string): ImportC2CMessage | undefined {
    const r = this.statement(
      `SELECT old_id, sender, receiver, time, body, cloud, ${EARLIER_IN_SECOND} FROM messages m WHERE old_id = ?`,
    ).get(oldId) as C2CRow | undefined;
    return r && c2cFromRow(r);
  }
  groupMessage(oldId: string): (ImportGroupMessage & { groupId: string }) | undefined {
    const r = this.statement(
      `SELECT old_id, group_id, sender, time, body,
         (SELECT COUNT(*) FROM group_messages e WHERE e.group_id = g.group_id AND (e.time, e.ordinal) < (g.time, g.ordinal)) AS earlier
       FROM group_messages g WHERE old_id = ?`,
    ).get(oldId) as (GroupMessageRow & { group_id: string; earlier: number }) | undefined;
    return r && { ...groupMessageFromRow(r, r.earlier), groupId: r.group_id };
  }
  readMark(reader: string, peer: string): ImportReadMark | undefined {
    const r = this.statement('SELECT reader, peer, read_up_to FROM read_marks WHERE reader = ? AND peer = ?').get(reader, peer) as
      { reader: string; peer: string; read_up_to: number } | undefined;
    return r && { reader: r.reader, peer: r.peer, readUpTo: r.read_up_to };
  }
  groupMember(groupId: string, userId: string): ImportGroupMember | undefined {
    const r = this.statement('SELECT account, role, join_time, unread FROM group_members WHERE group_id = ? AND account = ?').get(
      groupId,
      userId,
    ) as { account: string; role: string; join_time: number | null; unread: number } | undefined;
    return r && memberFromRow(r);
  }
  friend(owner: string, friend: string): ImportFriend | undefined {
    const r = this.statement('SELECT friend, data FROM friendships WHERE owner = ? AND friend = ?').get(owner, friend) as
      { friend: string; data: string } | undefined;
    return r && friendFromRow(r);
  }

  failures(migrationId: string, page: PageRequest & { entity?: string }): Page<FailureRecord> {
    const [entity, item] = decode(page.after, [START, START]);
    const rows = this.db
      .prepare(
        `SELECT migration_id AS migrationId, entity, item_id AS itemId, api, code, error_class AS errorClass, reason FROM failures
         WHERE migration_id = ? AND (? IS NULL OR entity = ?) AND (entity, item_id) > (?, ?) ORDER BY entity, item_id LIMIT ?`,
      )
      .all(migrationId, page.entity ?? null, page.entity ?? null, entity, item, page.limit) as FailureRecord[];
    const last = rows[rows.length - 1];
    return { items: rows, next: rows.length === page.limit ? encode([last.entity, last.itemId]) : undefined };
  }
}

type C2CRow = { old_id: string; sender: string; receiver: string; time: number; body: string; cloud: string | null; earlier: number };
function c2cFromRow(r: C2CRow): ImportC2CMessage {
  const body = JSON.parse(r.body) as MsgBody;
  return {
    oldId: r.old_id,
    from: r.sender,
    to: r.receiver,
    time: r.time,
    body,
    cloudCustomData: r.cloud ?? undefined,
    earlierInSecond: r.earlier,
  };
}

type GroupMessageRow = { old_id: string; sender: string; time: number; body: string };
/** `earlier`: how many of the group's messages come before it (a group's rows in order: their index). */
function groupMessageFromRow(r: GroupMessageRow, earlier: number): ImportGroupMessage {
  return { oldId: r.old_id, from: r.sender, time: r.time, body: JSON.parse(r.body) as MsgBody, earlierInGroup: earlier };
}

function friendFromRow(r: { friend: string; data: string }): ImportFriend {
  const d = JSON.parse(r.data) as Omit<FriendshipRecord, 'owner' | 'friend'>;
  return {
    toUserId: r.friend,
    remark: d.remark,
    groupNames: d.groups,
    addSource: `AddSource_Type_${d.addSource}`,
    addWording: d.addWording,
    addTime: d.addTime,
    customItems: d.custom ? Object.entries(d.custom).map(([k, v]) => ({ Tag: `Tag_SNS_Custom_${k}`, Value: v })) : undefined,
  };
}

function memberFromRow(r: { account: string; role: string; join_time: number | null; unread: number }): ImportGroupMember {
  return {
    userId: r.account,
    role: r.role === 'owner' ? 'Owner' : r.role === 'admin' ? 'Admin' : 'Member',
    joinTime: r.join_time ?? undefined,
    unreadCount: r.unread,
  };
}

const GENDER = { unknown: 'Gender_Type_Unknown', female: 'Gender_Type_Female', male: 'Gender_Type_Male' } as const;
const ALLOW = {
  needConfirm: 'AllowType_Type_NeedConfirm',
  allowAny: 'AllowType_Type_AllowAny',
  denyAny: 'AllowType_Type_DenyAny',
} as const;

/** The bundle's profile fields as portrait_set items (standard tags from im/messages.ts). */
export function profileItems(p: Omit<AccountRecord, 'id'>): Array<{ Tag: string; Value: string | number }> {
  const items: Array<{ Tag: string; Value: string | number }> = [];
  const put = (tag: string, value: string | number | undefined) => {
    if (value !== undefined) items.push({ Tag: tag, Value: value });
  };
  put(PROFILE_TAGS.nick.tag, p.nick);
  put(PROFILE_TAGS.faceUrl.tag, p.faceUrl);
  put(PROFILE_TAGS.gender.tag, p.gender && GENDER[p.gender]);
  put(PROFILE_TAGS.birthday.tag, p.birthday);
  put(PROFILE_TAGS.location.tag, p.location);
  put(PROFILE_TAGS.signature.tag, p.signature);
  put(PROFILE_TAGS.allowType.tag, p.allowType && ALLOW[p.allowType]);
  put(PROFILE_TAGS.language.tag, p.language);
  put(PROFILE_TAGS.level.tag, p.level);
  put(PROFILE_TAGS.role.tag, p.role);
  for (const [key, value] of Object.entries(p.custom ?? {})) put(`Tag_Profile_Custom_${key}`, value);
  return items;
}
