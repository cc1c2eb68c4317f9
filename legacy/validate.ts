/**
 * Reads a bundle line by line (never a whole file in memory) and checks every record against its
 * schema and every reference against the accounts and groups read before it. Problems come out as
 * `file:line field: reason`; a broken line never stops the run.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FRIEND_RULES, NON_IMPORTABLE_GROUP_TYPES, type GroupType } from '../im/messages';
import { BUNDLE_ENTITIES, BUNDLE_FILES, RECORD_SCHEMAS, type BundleEntity, type BundleRecord } from './bundle';
import { HashedIdSet } from './id-set';
import { toImGroupId, toImUserId } from './id-mapping';

export interface BundleIssue {
  file: string;
  line: number;
  field: string;
  reason: string;
}

export function formatIssue(i: BundleIssue): string {
  return `${i.file}:${i.line}${i.field ? ` ${i.field}` : ''}: ${i.reason}`;
}

/**
 * Throws unless `dir` is a directory: a mistyped path is not a bundle whose files are all missing,
 * and should not be reported as one (`accounts.ndjson:0: missing`).
 */
export function requireBundleDir(dir: string): void {
  const where = resolve(dir) === dir ? dir : `${dir} (${resolve(dir)})`;
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new Error(`bundle directory ${where} does not exist`);
  if (!stat.isDirectory())
    throw new Error(`${where} is not a directory: a bundle is a directory of ${Object.values(BUNDLE_FILES).join(', ')}`);
}

export interface ParsedLine<E extends BundleEntity> {
  line: number;
  record?: BundleRecord<E>;
  issues: BundleIssue[];
}

/** The lines of a file, read in 1 MB chunks (readline costs about a quarter more of the whole validation). */
async function* lines(path: string): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    yield* parts;
  }
  if (rest !== '') yield rest;
}

/** Every non-empty line of one entity's file, parsed; absent file → nothing. */
export async function* readEntity<E extends BundleEntity>(dir: string, entity: E): AsyncGenerator<ParsedLine<E>> {
  const file = BUNDLE_FILES[entity];
  const path = join(dir, file);
  if (!existsSync(path)) return;
  let line = 0;
  for await (const raw of lines(path)) {
    line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      yield { line, issues: [{ file, line, field: '', reason: `not valid JSON (${(err as Error).message})` }] };
      continue;
    }
    const parsed = RECORD_SCHEMAS[entity].safeParse(json);
    if (parsed.success) yield { line, record: parsed.data as BundleRecord<E>, issues: [] };
    else yield { line, issues: parsed.error.issues.map((i) => ({ file, line, field: i.path.join('.') || '(record)', reason: i.message })) };
  }
}

export interface EntitySummary {
  records: number;
  errors: number;
}
export interface ValidationSummary {
  entities: Record<BundleEntity, EntitySummary>;
  errors: number;
  /** True when --max-errors stopped the run early. */
  truncated: boolean;
}

/**
 * What the reference checks remember: ids only (a few tens of bytes each), never bodies. Kept so
 * `load` can reuse it.
 */
export interface BundleIndex {
  accounts: Set<string>;
  /** old group id → type */
  groups: Map<string, GroupType>;
}

export async function validateBundle(
  dir: string,
  opts: {
    maxErrors?: number;
    onIssue?: (issue: BundleIssue) => void;
    /** Each record that passed every check, as it is read (load writes it in the same pass). */
    onRecord?: <E extends BundleEntity>(entity: E, record: BundleRecord<E>) => void;
    /** Validate and report these entities only; the accounts and groups they refer to are read silently. */
    only?: readonly BundleEntity[];
    /** Called when an entity's issues are all reported (its duplicates included). */
    onEntityDone?: (entity: BundleEntity) => void;
  } = {},
): Promise<ValidationSummary & { index: BundleIndex }> {
  requireBundleDir(dir);
  const entities = Object.fromEntries(BUNDLE_ENTITIES.map((e) => [e, { records: 0, errors: 0 }])) as Record<BundleEntity, EntitySummary>;
  let errors = 0;
  let truncated = false;
  const report = (entity: BundleEntity, issue: BundleIssue) => {
    entities[entity].errors++;
    errors++;
    if (opts.maxErrors !== undefined && errors > opts.maxErrors) {
      truncated = true;
      return;
    }
    opts.onIssue?.(issue);
  };
  const reported = (e: BundleEntity) => opts.only === undefined || opts.only.includes(e);
  const needed = (e: BundleEntity) =>
    reported(e) || e === 'accounts' || (e === 'groups' && (reported('groupMembers') || reported('groupMessages')));
  const done = (e: BundleEntity) => {
    if (reported(e)) opts.onEntityDone?.(e);
  };
  const index: BundleIndex = { accounts: new Set(), groups: new Map() };
  if (reported('accounts') && !existsSync(join(dir, BUNDLE_FILES.accounts))) {
    report('accounts', { file: BUNDLE_FILES.accounts, line: 0, field: '', reason: `missing: a bundle needs ${BUNDLE_FILES.accounts}` });
  }

  /** Reads one entity, counting records and reporting schema issues and those `check` finds. */
  async function pass<E extends BundleEntity>(entity: E, check: (r: BundleRecord<E>, at: (field: string, reason: string) => void) => void) {
    if (!needed(entity)) return;
    const file = BUNDLE_FILES[entity];
    if (!reported(entity)) {
      // Read only for the ids later entities refer to.
      for await (const parsed of readEntity(dir, entity)) if (parsed.record) check(parsed.record, () => undefined);
      return;
    }
    for await (const parsed of readEntity(dir, entity)) {
      entities[entity].records++;
      const lineIssues: BundleIssue[] = [...parsed.issues];
      if (parsed.record) check(parsed.record, (field, reason) => lineIssues.push({ file, line: parsed.line, field, reason }));
      for (const issue of lineIssues) report(entity, issue);
      if (lineIssues.length)
        entities[entity].errors -= lineIssues.length - 1; // count records in error, not issues
      else if (parsed.record && errors === 0) opts.onRecord?.(entity, parsed.record);
    }
  }

  const imAccountIds = new Map<string, string>();
  await pass('accounts', (a, at) => {
    if (index.accounts.has(a.id)) return at('id', `duplicate account id "${a.id}"`);
    const imId = toImUserId(a.id);
    const clash = imAccountIds.get(imId);
    if (clash !== undefined) return at('id', `maps to IM id "${imId}", which account "${clash}" already has`);
    imAccountIds.set(imId, a.id);
    index.accounts.add(a.id);
  });
  imAccountIds.clear();
  done('accounts');

  const account = (id: string | undefined, field: string, at: (f: string, r: string) => void) => {
    if (id !== undefined && !index.accounts.has(id)) at(field, `unknown account "${id}"`);
  };
  const imGroupIds = new Set<string>();
  const undatedGroups = new Set<string>();
  await pass('groups', (g, at) => {
    if (index.groups.has(g.id)) return at('id', `duplicate group id "${g.id}"`);
    const imId = toImGroupId(g.id, g.type);
    if (imGroupIds.has(imId)) return at('id', `maps to IM group id "${imId}", which another group already has`);
    imGroupIds.add(imId);
    account(g.owner, 'owner', at);
    index.groups.set(g.id, g.type);
    // A group IM cannot import has its own report (unsupported), whatever its times.
    if (g.createTime === undefined && !NON_IMPORTABLE_GROUP_TYPES.includes(g.type)) undatedGroups.add(g.id);
  });
  /**
   * IM dates a group imported without CreateTime at the import, and refuses every join and message
   * older than the group: its whole history would end in the failure report. Said once per group
   * and file, at the first line it would lose.
   */
  const toldUndated = new Set<string>();
  const undated = (group: string, what: 'member joins' | 'messages', at: (f: string, r: string) => void) => {
    if (!undatedGroups.has(group) || toldUndated.has(`${what}|${group}`)) return;
    toldUndated.add(`${what}|${group}`);
    at(
      'group',
      `group "${group}" has no createTime in ${BUNDLE_FILES.groups}: IM would date it at the import and refuse all its older ${what}; give the group its createTime`,
    );
  };
  imGroupIds.clear();
  done('groups');

  /**
   * Repeated keys are spotted by hash while reading (HashedIdSet) and confirmed exactly by a second
   * read of the file, only when there is any: no bundle-sized Set of strings is ever kept.
   */
  async function reportDuplicates<E extends BundleEntity>(
    entity: E,
    suspects: Set<string>,
    keyOf: (r: BundleRecord<E>) => string,
    describe: (r: BundleRecord<E>) => [string, string],
  ) {
    if (suspects.size === 0) return;
    const file = BUNDLE_FILES[entity];
    const seen = new Set<string>();
    for await (const parsed of readEntity(dir, entity)) {
      if (!parsed.record) continue;
      const key = keyOf(parsed.record);
      if (!suspects.has(key)) continue;
      if (!seen.has(key)) {
        seen.add(key);
        continue;
      }
      const [field, reason] = describe(parsed.record);
      report(entity, { file, line: parsed.line, field, reason });
    }
  }

  const friendCount = new Map<string, number>();
  const pairs = new HashedIdSet();
  const repeatedPairs = new Set<string>();
  const pairOf = (f: { owner: string; friend: string }) => `${f.owner}\u0000${f.friend}`;
  await pass('friendships', (f, at) => {
    account(f.owner, 'owner', at);
    account(f.friend, 'friend', at);
    if (f.owner === f.friend) return at('friend', 'an account cannot befriend itself');
    if (!pairs.add(pairOf(f))) return void repeatedPairs.add(pairOf(f));
    const n = (friendCount.get(f.owner) ?? 0) + 1;
    friendCount.set(f.owner, n);
    if (n === FRIEND_RULES.maxFriendsPerUser + 1) at('owner', `"${f.owner}" has more than IM's ${FRIEND_RULES.maxFriendsPerUser} friends`);
  });
  friendCount.clear();
  await reportDuplicates('friendships', repeatedPairs, pairOf, (f) => ['friend', `duplicate friendship ${f.owner} → ${f.friend}`]);
  done('friendships');

  const messageIds = new HashedIdSet();
  const repeatedMessageIds = new Set<string>();
  await pass('messages', (m, at) => {
    account(m.from, 'from', at);
    account(m.to, 'to', at);
    if (!messageIds.add(m.id)) repeatedMessageIds.add(m.id);
  });
  await reportDuplicates(
    'messages',
    repeatedMessageIds,
    (m) => m.id,
    (m) => ['id', `duplicate message id "${m.id}"`],
  );
  done('messages');

  await pass('readMarks', (r, at) => {
    account(r.reader, 'reader', at);
    account(r.peer, 'peer', at);
  });
  done('readMarks');

  const members = new HashedIdSet();
  const repeatedMembers = new Set<string>();
  const memberOf = (m: { group: string; account: string }) => `${m.group}\u0000${m.account}`;
  const group = (id: string, at: (f: string, r: string) => void) => {
    const type = index.groups.get(id);
    if (type === undefined) at('group', `unknown group "${id}"`);
    return type;
  };
  await pass('groupMembers', (m, at) => {
    group(m.group, at);
    account(m.account, 'account', at);
    if (m.joinTime !== undefined) undated(m.group, 'member joins', at);
    if (!members.add(memberOf(m))) repeatedMembers.add(memberOf(m));
  });
  await reportDuplicates('groupMembers', repeatedMembers, memberOf, (m) => [
    'account',
    `"${m.account}" is listed twice in group "${m.group}"`,
  ]);
  done('groupMembers');

  const groupMessageIds = new HashedIdSet();
  const repeatedGroupMessageIds = new Set<string>();
  await pass('groupMessages', (m, at) => {
    const type = group(m.group, at);
    account(m.from, 'from', at);
    undated(m.group, 'messages', at);
    // Messages of an AVChatRoom are not an error here: the import reports such groups as unsupported.
    void type;
    if (!groupMessageIds.add(m.id)) repeatedGroupMessageIds.add(m.id);
  });
  await reportDuplicates(
    'groupMessages',
    repeatedGroupMessageIds,
    (m) => m.id,
    (m) => ['id', `duplicate group message id "${m.id}"`],
  );
  done('groupMessages');

  return { entities, errors, truncated, index };
}
