/**
 * What a verification run found, kept beside the staging store (the same SQLite file):
 *   - `verify_seen`: what IM's read APIs returned for one conversation, friend list or group while
 *     its pages are read (IM answers a page at a time; the comparison needs the whole set), cleared
 *     once that scope is compared;
 *   - `verify_differences`: every difference (missing, extra, changed, out of order), keyed by run,
 *     kind, scope and item, so a retried page or a resumed run writes each one once.
 * Workflows carry only the verification id and counts; item ids and field names stay here.
 */
import type Database from 'better-sqlite3';
import type { VerifyKind } from '../workflows/verify-api';
import { statementCache } from './statements';

export type DifferenceProblem = 'missing' | 'extra' | 'changed' | 'out-of-order';

export interface Difference {
  kind: VerifyKind;
  /** The conversation (`owner|peer`), friend list owner, group id, or '' for accounts and groups. */
  scope: string;
  /** The item: old message id, user id, member id, or IM's key for an extra item. */
  itemId: string;
  problem: DifferenceProblem;
  /** Which fields differ, and how (never a message body). */
  detail: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS verify_seen (
  verify_id TEXT NOT NULL, scope TEXT NOT NULL, item_key TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (verify_id, scope, item_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS verify_differences (
  verify_id TEXT NOT NULL, kind TEXT NOT NULL, scope TEXT NOT NULL, item_id TEXT NOT NULL, problem TEXT NOT NULL,
  detail TEXT NOT NULL, PRIMARY KEY (verify_id, kind, scope, item_id, problem)) WITHOUT ROWID;
`;

export class VerifyLedger {
  private readonly statement: (sql: string) => Database.Statement;

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.statement = statementCache(db);
  }

  /** Items one page of IM's answer holds; a page read again (a retry, overlapping pages) adds nothing twice. */
  addSeen(verifyId: string, scope: string, items: Array<{ key: string; data: unknown }>): void {
    const insert = this.statement('INSERT INTO verify_seen (verify_id, scope, item_key, data) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.db.transaction(() => {
      for (const item of items) insert.run(verifyId, scope, item.key, JSON.stringify(item.data));
    })();
  }

  seen<T>(verifyId: string, scope: string): Map<string, T> {
    const rows = this.statement('SELECT item_key, data FROM verify_seen WHERE verify_id = ? AND scope = ?').all(verifyId, scope) as Array<{
      item_key: string;
      data: string;
    }>;
    return new Map(rows.map((r) => [r.item_key, JSON.parse(r.data) as T]));
  }

  /**
   * The differences of one scope, replacing what an earlier attempt wrote for it, and the scope's
   * seen items cleared, in one transaction: a retried comparison gives the same rows.
   */
  settleScope(verifyId: string, kind: VerifyKind, scope: string, differences: Difference[], seenScope = scope): void {
    const insert = this.statement(
      `INSERT INTO verify_differences (verify_id, kind, scope, item_id, problem, detail) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (verify_id, kind, scope, item_id, problem) DO UPDATE SET detail = excluded.detail`,
    );
    this.db.transaction(() => {
      this.statement('DELETE FROM verify_differences WHERE verify_id = ? AND kind = ? AND scope = ?').run(verifyId, kind, scope);
      for (const d of differences) insert.run(verifyId, d.kind, d.scope, d.itemId, d.problem, d.detail);
      this.statement('DELETE FROM verify_seen WHERE verify_id = ? AND scope = ?').run(verifyId, seenScope);
    })();
  }

  /** Differences of items that are checked a batch at a time (accounts, profiles): written as found. */
  addDifferences(verifyId: string, differences: Difference[]): void {
    const insert = this.statement(
      `INSERT INTO verify_differences (verify_id, kind, scope, item_id, problem, detail) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (verify_id, kind, scope, item_id, problem) DO UPDATE SET detail = excluded.detail`,
    );
    this.db.transaction(() => {
      for (const d of differences) insert.run(verifyId, d.kind, d.scope, d.itemId, d.problem, d.detail);
    })();
  }

  /** A page of the differences, in kind, scope and item order. */
  differences(verifyId: string, page: { after?: string; limit: number; kind?: VerifyKind }): { items: Difference[]; next?: string } {
    const [kind, scope, item, problem] = page.after === undefined ? ['', '', '', ''] : (JSON.parse(page.after) as string[]);
    const rows = this.statement(
      `SELECT kind, scope, item_id AS itemId, problem, detail FROM verify_differences
       WHERE verify_id = ? AND (? IS NULL OR kind = ?) AND (kind, scope, item_id, problem) > (?, ?, ?, ?)
       ORDER BY kind, scope, item_id, problem LIMIT ?`,
    ).all(verifyId, page.kind ?? null, page.kind ?? null, kind, scope, item, problem, page.limit) as Difference[];
    const last = rows[rows.length - 1];
    return {
      items: rows,
      next: rows.length === page.limit ? JSON.stringify([last.kind, last.scope, last.itemId, last.problem]) : undefined,
    };
  }

  countDifferences(verifyId: string): Record<string, number> {
    const rows = this.statement('SELECT kind, COUNT(*) AS n FROM verify_differences WHERE verify_id = ? GROUP BY kind').all(
      verifyId,
    ) as Array<{ kind: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
  }

  /** A fresh run under an id used before starts from nothing. */
  clear(verifyId: string): void {
    this.db.transaction(() => {
      this.statement('DELETE FROM verify_seen WHERE verify_id = ?').run(verifyId);
      this.statement('DELETE FROM verify_differences WHERE verify_id = ?').run(verifyId);
    })();
  }
}
