/**
 * Simulated coexistence traffic for the demo and the sync benchmark: App 1.0 users act in the
 * old-system emulator, App 2.0 users in the IM emulator, at a steady rate per side. Every
 * message text is unique, so the two-way verification can count each one on both sides:
 * arrived once on the other side (else lost or duplicated), and once on its own side (else an
 * echo came back).
 */
import type { ImEmulator } from '../../emulator/im';
import type { MsgBody } from '../../im/messages';
import type { LegacyEmulator, LegacyGroup, LegacyMessage } from '../../emulator/legacy';
import type { EmulatorSnapshot } from '../../emulator/im';

export interface TrafficPlan {
  /** Pairs of the same person: old id (App 1.0) and IM id (App 2.0). */
  users: Array<{ oldId: string; imId: string }>;
  /** Events per second on each side. */
  ratePerSide: number;
  seconds: number;
  tag: string;
  /** Groups each app creates and then talks in (default 5): a group's events are applied one after another, so spreading them is what real traffic does. */
  groupsPerSide?: number;
}

export interface TrafficLedger {
  tag: string;
  /** When the timed traffic began (after the groups were created on both sides). */
  startedAtMs: number;
  endedAtMs: number;
  sentFromOld: { c2c: string[]; group: string[]; groupChanges: number };
  sentFromIm: { c2c: string[]; group: string[]; groupChanges: number };
  /** Groups created during the traffic (the same id on both sides). */
  groups: { old: string[]; im: string[] };
}

const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Old-system and IM sides as the traffic needs them (in this process, or in the emulator process of the benchmark). */
export interface TrafficSides {
  legacy: Pick<LegacyEmulator, 'asUser'>;
  im: Pick<ImEmulator, 'asUser'>;
}

/** The first user owns every traffic group; the next seven are its members and speakers. */
const groupCast = (users: TrafficPlan['users']) => ({ owner: users[0], members: users.slice(1, 8) });

/** Each app creates its groups; let them cross to the other side (`settled`) before `sendTraffic`. */
export async function createTrafficGroups({ legacy, im }: TrafficSides, plan: TrafficPlan): Promise<TrafficLedger> {
  const { users, tag } = plan;
  if (users.length < 4) throw new Error('traffic needs at least 4 users');
  const ledger: TrafficLedger = {
    tag,
    startedAtMs: 0,
    endedAtMs: 0,
    sentFromOld: { c2c: [], group: [], groupChanges: 0 },
    sentFromIm: { c2c: [], group: [], groupChanges: 0 },
    groups: { old: [], im: [] },
  };
  const { owner, members } = groupCast(users);
  for (let g = 0; g < (plan.groupsPerSide ?? 5); g++) {
    ledger.groups.old.push(`${tag}-old-app-group-${g}`);
    ledger.groups.im.push(`${tag}-new-app-group-${g}`);
    await legacy.asUser(owner.oldId).createGroup({
      groupId: ledger.groups.old[g],
      groupType: 'Public',
      name: `Made in App 1.0 #${g}`,
      members: members.map((m) => m.oldId),
    });
    await im
      .asUser(owner.imId)
      .createGroup({ groupId: ledger.groups.im[g], type: 'Public', name: `Made in App 2.0 #${g}`, members: members.map((m) => m.imId) });
    ledger.sentFromOld.groupChanges++;
    ledger.sentFromIm.groupChanges++;
  }
  return ledger;
}

/** Both apps at `ratePerSide` events/s for `seconds`: 60 % one-to-one messages, 30 % group messages, 10 % group profile changes. */
export async function sendTraffic({ legacy, im }: TrafficSides, plan: TrafficPlan, ledger: TrafficLedger): Promise<TrafficLedger> {
  const { users, tag } = plan;
  const { owner, members } = groupCast(users);
  const total = Math.round(plan.ratePerSide * plan.seconds);
  const started = Date.now();
  ledger.startedAtMs = started;
  const side = async (fromOld: boolean) => {
    const sent = fromOld ? ledger.sentFromOld : ledger.sentFromIm;
    const groups = fromOld ? ledger.groups.old : ledger.groups.im;
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / plan.ratePerSide;
      if (due > Date.now()) await sleep(due - Date.now());
      const a = users[(i * 7) % users.length];
      let b = users[(i * 11 + 3) % users.length];
      if (b === a) b = users[(users.indexOf(a) + 1) % users.length];
      const label = `${tag} ${fromOld ? 'old' : 'new'} #${i}`;
      const kind = i % 10;
      if (kind < 6) {
        sent.c2c.push(label);
        if (fromOld) await legacy.asUser(a.oldId).sendMessage(b.oldId, text(label));
        else await im.asUser(a.imId, 'Android').sendC2C(b.imId, text(label));
      } else if (kind < 9) {
        sent.group.push(label);
        const speaker = members[i % members.length];
        const group = groups[i % groups.length];
        if (fromOld) await legacy.asUser(speaker.oldId).sendGroupMessage(group, text(label));
        else await im.asUser(speaker.imId, 'iOS').sendGroupMsg(group, text(label));
      } else {
        // A profile change keeps membership stable, so every later group message has a sender who is a member.
        sent.groupChanges++;
        const group = groups[Math.floor(i / 10) % groups.length];
        if (fromOld) await legacy.asUser(owner.oldId).changeGroupProfile(group, { notification: label });
        else await im.asUser(owner.imId).changeGroupProfile(group, { Notification: label });
      }
    }
  };
  await Promise.all([side(true), side(false)]);
  ledger.endedAtMs = Date.now();
  return ledger;
}

export interface TwoWayRow {
  what: string;
  sent: number;
  arrived: number;
  lost: number;
  duplicated: number;
  echoed: number;
}

/** What each side holds at the end: IM's state and the old system's messages and groups. */
export interface SideStates {
  im: EmulatorSnapshot;
  legacy: { messages: LegacyMessage[]; groups: LegacyGroup[] };
}

/** Counts each sent message on both sides, and compares the groups' final profiles and member counts. */
export function verifyTwoWay(states: SideStates, ledger: TrafficLedger): { rows: TwoWayRow[]; groupsEqual: boolean } {
  const count = (texts: string[]) => {
    const m = new Map<string, number>();
    for (const t of texts) if (t.startsWith(`${ledger.tag} `)) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  };
  const textOf = (body: ReadonlyArray<{ MsgContent: unknown }>) => body.map((e) => (e.MsgContent as { Text?: string }).Text ?? '').join('');
  const snap = states.im;
  const imC2C = count(
    Object.values(snap.conversations)
      .flat()
      .map((m) => textOf(m.body)),
  );
  const imGroup = count(Object.values(snap.groups).flatMap((g) => g.messages.map((m) => textOf(m.body))));
  const oldC2C = count(states.legacy.messages.map((m) => textOf(m.body)));
  const oldGroup = count(states.legacy.groups.flatMap((g) => g.messages.map((m) => textOf(m.body))));
  const row = (what: string, sent: string[], there: Map<string, number>, here: Map<string, number>): TwoWayRow => ({
    what,
    sent: sent.length,
    arrived: sent.filter((t) => (there.get(t) ?? 0) >= 1).length,
    lost: sent.filter((t) => !there.has(t)).length,
    duplicated: sent.filter((t) => (there.get(t) ?? 0) > 1).length,
    echoed: sent.filter((t) => (here.get(t) ?? 0) > 1).length,
  });
  const rows = [
    row('One-to-one messages, App 1.0 → IM', ledger.sentFromOld.c2c, imC2C, oldC2C),
    row('One-to-one messages, IM → App 1.0', ledger.sentFromIm.c2c, oldC2C, imC2C),
    row('Group messages, App 1.0 → IM', ledger.sentFromOld.group, imGroup, oldGroup),
    row('Group messages, IM → App 1.0', ledger.sentFromIm.group, oldGroup, imGroup),
  ];
  // Groups made during the traffic have the same id on both sides.
  const sameGroup = (id: string) => {
    const inIm = snap.groups[id];
    const inOld = states.legacy.groups.find((g) => g.groupId === id);
    return (
      !!inIm &&
      !!inOld &&
      inIm.name === inOld.name &&
      (inIm.notification ?? '') === (inOld.notification ?? '') &&
      inIm.members.length === inOld.members.length
    );
  };
  return { rows, groupsEqual: [...ledger.groups.old, ...ledger.groups.im].every(sameGroup) };
}

export function formatTwoWayTable(rows: TwoWayRow[]): string {
  const header = ['what', 'sent', 'arrived once', 'lost', 'duplicated', 'echoed back', ''];
  const body = rows.map((r) => [
    r.what,
    String(r.sent),
    String(r.arrived - r.duplicated),
    String(r.lost),
    String(r.duplicated),
    String(r.echoed),
    r.lost + r.duplicated + r.echoed === 0 && r.arrived === r.sent ? 'OK' : 'MISMATCH',
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}
