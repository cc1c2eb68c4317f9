/** The old-system side: validation, id mapping, the staging store and the sample generator. */
import Database from 'better-sqlite3';
import { HashedIdSet } from '../legacy/id-set';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidGroupId, isValidUserId } from '../im/messages';
import { importedMessageIdentity, liveGroupRandom, toImGroupId, toImUserId } from '../legacy/id-mapping';
import { writeSampleBundle } from '../legacy/sample';
import type { ReadMarkScope } from '../legacy/source';
import { CHAIN_PAGES_AT_LEAST, StagingStore } from '../legacy/store';
import { formatIssue, validateBundle, type BundleIssue } from '../legacy/validate';

const tmp = () => mkdtempSync(join(tmpdir(), 'tim-legacy-'));
const text = (t: string) => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];

function writeBundle(files: Record<string, unknown[] | string>): string {
  const dir = join(tmp(), 'bundle');
  mkdirSync(dir, { recursive: true });
  for (const [file, lines] of Object.entries(files)) {
    writeFileSync(
      join(dir, file),
      typeof lines === 'string' ? lines : lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n',
    );
  }
  return dir;
}

async function issuesOf(dir: string): Promise<string[]> {
  const issues: BundleIssue[] = [];
  await validateBundle(dir, { onIssue: (i) => issues.push(i) });
  return issues.map(formatIssue);
}

describe('validate', () => {
  test('names the file, line and field of schema and reference errors, and a broken line does not stop it', async () => {
    const dir = writeBundle({
      'accounts.ndjson': [
        { id: 'alice' },
        { id: 'dave', gender: 'robot' },
        '{not json',
        { id: 'carol', nick: 'x'.repeat(501) },
        { id: 'bob' },
      ],
      'messages.ndjson': [
        { id: 'm1', from: 'alice', to: 'bob', time: 1700000000, body: text('hi') },
        { id: 'm2', from: 'alice', to: 'zed', time: 1700000001, body: text('who?') },
        { id: 'm1', from: 'bob', to: 'alice', time: 1700000002, body: text('dup') },
        {
          id: 'm3',
          from: 'bob',
          to: 'alice',
          time: 1700000003,
          body: [{ MsgType: 'TIMFileElem', MsgContent: { Url: 'https://x/f', UUID: 'u' } }],
        },
      ],
      'group-members.ndjson': [{ group: 'nowhere', account: 'alice' }],
    });
    expect(await issuesOf(dir)).toEqual([
      expect.stringMatching(/^accounts\.ndjson:2 gender: /),
      expect.stringMatching(/^accounts\.ndjson:3: not valid JSON/),
      expect.stringMatching(/^accounts\.ndjson:4 nick: longer than 500 bytes$/),
      'messages.ndjson:2 to: unknown account "zed"',
      expect.stringMatching(/^messages\.ndjson:4 body\.0\.MsgContent\.Download_Flag: /),
      // Repeated ids are confirmed by a second read of the file, so they come after its other issues.
      'messages.ndjson:3 id: duplicate message id "m1"',
      'group-members.ndjson:1 group: unknown group "nowhere"',
    ]);
  });

  test('the sample generator’s --with-errors set is exactly what validate reports', async () => {
    const dir = join(tmp(), 'sample');
    const sample = await writeSampleBundle(dir, { seed: 3, users: 40, groups: 6, messages: 500, groupMessages: 300, withErrors: true });
    const issues: BundleIssue[] = [];
    const summary = await validateBundle(dir, { onIssue: (i) => issues.push(i) });
    expect(issues.map((i) => `${i.file}:${i.line}`)).toEqual(sample.errors.map((e) => `${e.file}:${e.line}`));
    for (const [i, e] of sample.errors.entries()) {
      expect(issues[i].field).toBe(e.field);
      expect(issues[i].reason).toMatch(e.reason);
    }
    expect(summary.errors).toBe(sample.errors.length);
  });

  test('a clean sample validates with no errors and --max-errors stops printing', async () => {
    const dir = join(tmp(), 'sample');
    await writeSampleBundle(dir, { seed: 5, users: 30, groups: 5, messages: 300, groupMessages: 200 });
    expect((await validateBundle(dir)).errors).toBe(0);
    const bad = join(tmp(), 'bad');
    await writeSampleBundle(bad, { seed: 5, users: 30, groups: 5, messages: 300, groupMessages: 200, withErrors: true });
    const printed: BundleIssue[] = [];
    const summary = await validateBundle(bad, { maxErrors: 3, onIssue: (i) => printed.push(i) });
    expect(printed).toHaveLength(3);
    expect(summary.truncated).toBe(true);
  });
});

describe('id mapping', () => {
  test('keeps ids IM accepts and maps the others to valid, stable ids', () => {
    expect(toImUserId('alice_01')).toBe('alice_01');
    const mapped = toImUserId('alice@example.com');
    expect(mapped).toMatch(/^m_[a-z2-7]{26}$/);
    expect(isValidUserId(mapped)).toBe(true);
    expect(toImUserId('alice@example.com')).toBe(mapped);
    expect(toImUserId('x'.repeat(33))).not.toBe('x'.repeat(33));
    expect(toImGroupId('team-1', 'Public')).toBe('team-1');
    expect(isValidGroupId(toImGroupId('群组 1', 'Public'), 'Public')).toBe(true);
    expect(toImGroupId('plain', 'Community')).toMatch(/^@TGS#_m_/);
    const place = (oldId: string, earlierInSecond = 0) => importedMessageIdentity({ oldId, earlierInSecond });
    expect(place('c2c-1')).toEqual(place('c2c-1'));
    expect(place('c2c-1')).not.toEqual(place('c2c-2'));
    expect(place('c2c-1', 1).msgSeq).toBeGreaterThan(place('c2c-2', 0).msgSeq);
    // A live group message's Random never equals an imported one's (its place in the group).
    expect(liveGroupRandom('g-1')).toBeGreaterThan(importedMessageIdentity({ earlierInGroup: 2 ** 31 - 2 }).random);
    expect(() => importedMessageIdentity({ earlierInGroup: 2 ** 31 - 1 })).toThrow(/cannot be imported/);
  });

  test('the store answers both directions, for users and groups', async () => {
    const dir = writeBundle({
      'accounts.ndjson': [{ id: 'plain' }, { id: 'has space' }],
      'groups.ndjson': [{ id: 'grüppe', type: 'Public', name: 'G', owner: 'has space' }],
      'messages.ndjson': [{ id: 'm1', from: 'has space', to: 'plain', time: 1700000000, body: text('hi') }],
    });
    const store = new StagingStore(join(tmp(), 's.sqlite'));
    await store.load(dir);
    const im = toImUserId('has space');
    expect(store.toOldUserId(im)).toBe('has space');
    expect(store.toImUserId('has space')).toBe(im);
    expect(store.toOldUserId('plain')).toBe('plain');
    const g = store.toImGroupId('grüppe', 'Public');
    expect(store.toOldGroupId(g)).toBe('grüppe');
    expect(store.group(g)?.ownerId).toBe(im);
    expect(store.ownedMessages(im < 'plain' ? im : 'plain', { limit: 10 }).items[0].from).toBe(im);
    store.close();
  });

  test('an old id whose mapping equals another account’s id is reported, not merged', async () => {
    const dir = writeBundle({ 'accounts.ndjson': [{ id: 'bob smith' }, { id: toImUserId('bob smith') }] });
    expect(await issuesOf(dir)).toEqual([
      expect.stringMatching(/^accounts\.ndjson:2 id: maps to IM id .* which account "bob smith" already has$/),
    ]);
  });
});

describe('staging store', () => {
  test('a store of an earlier version, which keeps no bundle order, is refused with what to do', () => {
    const path = join(tmp(), 'old.sqlite');
    const old = new Database(path);
    old.exec(
      'CREATE TABLE messages (old_id TEXT PRIMARY KEY, conv_owner TEXT, conv_peer TEXT, sender TEXT, receiver TEXT, time INTEGER, body TEXT, cloud TEXT)',
    );
    old.close();
    expect(() => new StagingStore(path)).toThrow(/earlier version .*load the bundle into a new store/);
  });

  test('loading twice gives the same state', async () => {
    const dir = join(tmp(), 'sample');
    await writeSampleBundle(dir, { seed: 9, users: 30, groups: 5, messages: 400, groupMessages: 200 });
    const store = new StagingStore(join(tmp(), 's.sqlite'));
    await store.load(dir);
    const dump = () =>
      ['accounts', 'friendships', 'messages', 'read_marks', 'groups', 'group_members', 'group_messages', 'id_map'].map((t) =>
        store.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all(),
      );
    const first = JSON.stringify(dump());
    await store.load(dir);
    expect(JSON.stringify(dump())).toBe(first);
    expect(store.totals().messages).toBe(400);
    store.close();
  });

  test('a bundle with errors loads nothing, and load reports exactly what validate reports, in the same order', async () => {
    const dir = join(tmp(), 'bad');
    await writeSampleBundle(dir, { seed: 9, users: 20, groups: 4, messages: 100, groupMessages: 50, withErrors: true });
    const store = new StagingStore(join(tmp(), 's.sqlite'));
    const fromLoad: string[] = [];
    const summary = await store.load(dir, { onIssue: (i) => fromLoad.push(formatIssue(i)) });
    const fromValidate: string[] = [];
    const validation = await validateBundle(dir, { onIssue: (i) => fromValidate.push(formatIssue(i)) });
    expect(fromLoad).toEqual(fromValidate);
    expect(summary.entities).toEqual(validation.entities);
    expect(summary.errors).toBeGreaterThan(0);
    expect(store.totals().accounts).toBe(0);
    store.close();
  });

  test('keyset pages never skip or repeat rows when many share a timestamp', async () => {
    const messages = [];
    for (let i = 0; i < 237; i++)
      messages.push({
        id: `m${String(i).padStart(3, '0')}`,
        from: i % 3 ? 'a' : 'b',
        to: i % 3 ? 'b' : 'a',
        time: 1700000000 + Math.floor(i / 50),
        body: text(`${i}`),
      });
    for (let i = 0; i < 61; i++) messages.push({ id: `c${i}`, from: 'a', to: 'c', time: 1700000000, body: text(`${i}`) });
    const groupMessages = Array.from({ length: 101 }, (_, i) => ({
      id: `g${i}`,
      group: 'g',
      from: 'a',
      time: 1700000000 + (i % 2),
      body: text(`${i}`),
    }));
    const dir = writeBundle({
      'accounts.ndjson': [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      'groups.ndjson': [{ id: 'g', type: 'Public', name: 'G', owner: 'a', createTime: 1600000000 }],
      'messages.ndjson': messages,
      'group-messages.ndjson': groupMessages,
    });
    const store = new StagingStore(join(tmp(), 's.sqlite'));
    await store.load(dir);
    for (const limit of [1, 7, 50, 1000]) {
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = store.ownedMessages('a', { after, limit });
        seen.push(...page.items.map((m) => m.oldId));
        after = page.next;
      } while (after !== undefined);
      expect(seen).toHaveLength(298);
      expect(new Set(seen).size).toBe(298);
      const groupSeen: string[] = [];
      after = undefined;
      do {
        const page = store.groupMessages('g', { after, limit });
        groupSeen.push(...page.items.map((m) => m.oldId));
        after = page.next;
      } while (after !== undefined);
      expect(new Set(groupSeen).size).toBe(101);
      expect(groupSeen).toHaveLength(101);
    }
    // Within a conversation, time order.
    const all = store.ownedMessages('a', { limit: 1000 }).items;
    const ab = all.filter((m) => m.to === 'b' || m.from === 'b');
    expect(ab.map((m) => m.time)).toEqual([...ab.map((m) => m.time)].sort((x, y) => x - y));
    store.close();
  });
});

describe('pages planned in waves (a user’s chains run side by side)', () => {
  test('chains replay the sequential pages exactly; each conversation’s read marks follow the page that finishes it', async () => {
    const counts: Record<string, number> = { b: 23, c: 7, d: 1 };
    const messages = Object.entries(counts).flatMap(([peer, n]) =>
      Array.from({ length: n }, (_, i) => ({
        id: `${peer}${i}`,
        from: i % 2 ? peer : 'a',
        to: i % 2 ? 'a' : peer,
        time: 1700000000 + i,
        body: text(`${i}`),
      })),
    );
    const dir = writeBundle({
      'accounts.ndjson': ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id })),
      'messages.ndjson': messages,
      // e has read marks but no messages with a.
      'read-marks.ndjson': [
        ['a', 'b'],
        ['b', 'a'],
        ['c', 'a'],
        ['a', 'd'],
        ['a', 'e'],
        ['e', 'a'],
      ].map(([reader, peer]) => ({ reader, peer, readUpTo: 1700000100 })),
    });
    const store = new StagingStore(join(tmp(), 's.sqlite'));
    await store.load(dir);
    const peerOf = (m: { from: string; to: string }) => (m.from === 'a' ? m.to : m.from);
    const marks = (scope?: ReadMarkScope) => store.ownedReadMarks('a', { limit: 100 }, scope).items.map((r) => `${r.reader}>${r.peer}`);
    const sequential = store.ownedMessages('a', { limit: 1000 }).items;
    expect(sequential).toHaveLength(31);
    const lastOf = new Map(sequential.map((m) => [peerOf(m), m.oldId]));
    for (const [pageSize, pages] of [
      [5, 2],
      [3, 4],
      [10, 1],
      [100, 1],
    ]) {
      const replay: typeof sequential = [];
      const finishedBy: Array<[string, number]> = [];
      const finishedMarks: string[] = [];
      let after: string | undefined;
      do {
        const plan = store.planOwnedPages('a', 'messages', { after, pageSize, pages });
        expect(plan.chains.flatMap((c) => c.pages).length).toBeLessThanOrEqual(pages);
        const planStart = replay.length;
        for (const chain of plan.chains) {
          for (const [i, page] of chain.pages.entries()) {
            expect(page.items).toBeLessThanOrEqual(pageSize);
            const items = store.ownedMessages('a', { after: page.after ?? undefined, limit: page.items }).items;
            expect(items).toHaveLength(page.items);
            // Within a plan, a page joins the chain exactly when it continues the conversation of the page before it.
            if (replay.length > planStart) expect(peerOf(replay[replay.length - 1]) === peerOf(items[0])).toBe(i > 0);
            replay.push(...items);
            for (const { peer, readMarks } of page.finishes ?? []) {
              expect(items.map((m) => m.oldId)).toContain(lastOf.get(peer));
              finishedBy.push([peer, replay.length]);
              expect(readMarks).toBe(marks({ peers: [peer] }).length);
            }
            finishedMarks.push(...(page.finishes ? marks({ peers: page.finishes.map((f) => f.peer) }) : []));
          }
        }
        after = plan.next;
      } while (after !== undefined);
      expect(replay.map((m) => m.oldId)).toEqual(sequential.map((m) => m.oldId));
      // Every conversation with messages is finished once, by the page that holds its last message.
      expect(finishedBy.map(([peer]) => peer).sort()).toEqual(['b', 'c', 'd']);
      for (const [peer, end] of finishedBy) expect(replay.slice(0, end).filter((m) => peerOf(m) === peer)).toHaveLength(counts[peer]);
      expect(finishedMarks.sort()).toEqual(['a>b', 'a>d', 'b>a', 'c>a']);
    }
    expect(marks('withoutMessages').sort()).toEqual(['a>e', 'e>a']);
    expect(marks()).toHaveLength(6);
    const readMarkPlan = store.planOwnedPages('a', 'readMarks', { pageSize: 1, pages: 10, scope: 'withoutMessages' });
    expect(readMarkPlan.chains.map((c) => c.pages.length)).toEqual([1, 1]);
    store.close();
  });

  test('a chain runs on into the next conversation only until it is as long as the longest conversation’s own chain', async () => {
    // Conversations of 11 messages on pages of 5 line up with page starts only every 55 messages:
    // unbounded, every chain would be 11 pages long, though no conversation needs more than 3.
    const peers = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const plan = async (long: number) => {
      const messages = peers.flatMap((peer, p) =>
        Array.from({ length: p === 0 ? long : 11 }, (_, i) => ({
          id: `${peer}-${i}`,
          from: 'a',
          to: peer,
          time: 1700000000 + i,
          body: text(`${i}`),
        })),
      );
      const store = new StagingStore(join(tmp(), 's.sqlite'));
      await store.load(writeBundle({ 'accounts.ndjson': ['a', ...peers].map((id) => ({ id })), 'messages.ndjson': messages }));
      const result = store.planOwnedPages('a', 'messages', { pageSize: 5, pages: 100 });
      // The plan still covers every message once, in order.
      const replay = result.chains
        .flatMap((c) => c.pages)
        .flatMap((page) => store.ownedMessages('a', { after: page.after ?? undefined, limit: page.items }).items);
      expect(replay.map((m) => m.oldId)).toEqual(store.ownedMessages('a', { limit: 1000 }).items.map((m) => m.oldId));
      expect(result.next).toBeUndefined();
      store.close();
      return {
        longest: Math.max(...result.chains.map((c) => c.pages.length)),
        pages: result.chains.flatMap((c) => c.pages).length,
        messages: messages.length,
      };
    };
    const short = await plan(11);
    expect(short.longest).toBeLessThanOrEqual(CHAIN_PAGES_AT_LEAST);
    expect(short.longest).toBeGreaterThan(3);
    // Only the pages that stop a chain are partly empty.
    expect(short.pages).toBeLessThanOrEqual(Math.ceil(short.messages / 5) + 2);
    // A conversation of 60 messages needs a chain of 12 pages anyway: chains may be that long.
    const long = await plan(60);
    expect(long.longest).toBe(12);
  });
});

describe('hashed id set (duplicate checks of large bundles)', () => {
  test('stays exact through growth: every new id is new, every repeat is caught', () => {
    const set = new HashedIdSet();
    for (let i = 0; i < 50_000; i++) expect(set.add(`m${i}`)).toBe(true);
    expect(set.size).toBe(50_000);
    for (let i = 0; i < 50_000; i += 997) expect(set.add(`m${i}`)).toBe(false);
    // Ids that differ only in order or by a character still differ.
    expect(set.add('ab\u0000c')).toBe(true);
    expect(set.add('a\u0000bc')).toBe(true);
    expect(set.add('用户 1')).toBe(true);
    expect(set.add('用户 1')).toBe(false);
  });
});
