/**
 * `tim-migrate plan`: its counts, calls and times, checked against the bundle files themselves; the
 * accounts IM already holds, asked of the IM emulator; what users will not see.
 */
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { formatPlan, planMigration } from '../legacy/plan';
import { writeSampleBundle } from '../legacy/sample';
import { StagingStore } from '../legacy/store';
import { countExistingAccounts } from '../scripts/commands/plan';

const IM = { sdkAppId: 1400000321, secretKey: 'plan-test-key', admin: 'administrator' };
const END = 1_760_000_000;

type Row = Record<string, unknown>;
const rows = (dir: string, file: string): Row[] =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
const countBy = (list: Row[], key: string) =>
  list.reduce((m, r) => m.set(String(r[key]), (m.get(String(r[key])) ?? 0) + 1), new Map<string, number>());
const callsOf = (counts: Map<string, number>, perCall: number) => [...counts.values()].reduce((n, c) => n + Math.ceil(c / perCall), 0);

describe('tim-migrate plan', () => {
  let emulator: ImEmulator;
  let store: StagingStore;
  let bundle: string;

  beforeAll(async () => {
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
    const dir = mkdtempSync(join(tmpdir(), 'tim-plan-'));
    bundle = join(dir, 'bundle');
    await writeSampleBundle(bundle, { seed: 5, users: 20, groups: 5, messages: 300, groupMessages: 200, endTime: END });
    // A member who joined a Public group long after its history began.
    const group = rows(bundle, 'groups.ndjson').find((g) => g.type === 'Public')!;
    const outsider = rows(bundle, 'accounts.ndjson')
      .map((a) => String(a.id))
      .find((id) => !rows(bundle, 'group-members.ndjson').some((m) => m.group === group.id && m.account === id))!;
    appendFileSync(
      join(bundle, 'group-members.ndjson'),
      JSON.stringify({ group: group.id, account: outsider, role: 'member', joinTime: END, unread: 0 }) + '\n',
    );
    store = new StagingStore(join(dir, 'staging.sqlite'));
    expect((await store.load(bundle)).errors).toBe(0);
  });
  afterAll(async () => {
    store?.close();
    await emulator?.close();
  });

  test('counts, calls and times per phase follow the bundle and the rate table', () => {
    const limits = resolveApiLimits({});
    const plan = planMigration(store.db, limits, { nowS: END, roamingDays: 7 });
    const phase = (name: string) => plan.phases.find((p) => p.phase === name)!;
    const groups = rows(bundle, 'groups.ndjson');
    const importable = new Set(groups.filter((g) => g.type !== 'AVChatRoom').map((g) => String(g.id)));
    const members = rows(bundle, 'group-members.ndjson').filter((m) => importable.has(String(m.group)) && m.role !== 'owner');
    const groupMessages = rows(bundle, 'group-messages.ndjson').filter((m) => importable.has(String(m.group)));
    const messages = rows(bundle, 'messages.ndjson');

    expect(phase('accounts')).toMatchObject({ items: 20, calls: 1 });
    expect(phase('messages')).toMatchObject({
      items: messages.length,
      calls: messages.length,
      seconds: messages.length / limits.importmsg.callsPerSecond,
    });
    expect(phase('members')).toMatchObject({
      items: members.length,
      calls: callsOf(countBy(members, 'group'), limits.import_group_member.maxItems),
    });
    expect(phase('groupMessages')).toMatchObject({
      items: groupMessages.length,
      calls: callsOf(countBy(groupMessages, 'group'), limits.import_group_msg.maxItems),
    });
    expect(phase('groups').items).toBe(importable.size);
    // Accounts first, then the slowest API (importmsg here: one message a call).
    expect(plan.importSeconds).toBeCloseTo(phase('accounts').seconds + Math.max(...plan.phases.slice(1).map((p) => p.seconds)), 6);
    expect(plan.refused.unsupportedGroups).toBe(groups.length - importable.size);

    const oldest = END - 7 * 86_400;
    expect(plan.visibility.messagesOlderThanRetention).toBe(
      messages.filter((m) => Number(m.time) < oldest).length + groupMessages.filter((m) => Number(m.time) < oldest).length,
    );
    expect(plan.visibility.messagesOlderThanRetention).toBeGreaterThan(0);
    expect(plan.visibility).toMatchObject({ membersMissingEarlierHistory: 1, groupsAffected: 1 });
    expect(formatPlan(plan)).toMatch(/1 member\(s\) of 1 group\(s\) joined after/);
  });

  test('accounts already in IM are counted through account_check', async () => {
    const im = new ImClient({ ...IM, baseUrl: emulator.baseUrl });
    const some = store.accountIds({ limit: 5 }).items;
    await im.multiaccountImport({ Accounts: some });
    // Pages of 7 at 5 calls a second against the emulator's own limit of 100: no rate-limit answer.
    expect(await countExistingAccounts(im, store, 5, 7)).toEqual({ existing: 5, checked: 20 });
    expect(emulator.counters().rejectedForRate.account_check ?? 0).toBe(0);
  });
});
