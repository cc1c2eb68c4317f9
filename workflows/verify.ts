/**
 * Verification of an import against IM itself, durable like the import: the parent checks accounts
 * and profiles a batch at a time, then runs per-user children (friends, the conversations the user
 * owns) and per-group children (profile, members and unread counts, history) in sliding windows.
 * Every read goes through its API's rate-limited queue, so a large verification stays inside IM's
 * read rates, and a rate-limit answer backs off like the import's. A crashed worker costs a retried
 * read, never the run; a long run continues-as-new with its counts.
 *
 * Children are short (one user's or one group's reads); the parent continues-as-new only between
 * windows, once its running children have ended.
 */
import {
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { RoamCursor, StoreActivities, VerifyActivities, VerifyStoreActivities } from '../activities/contracts';
import type { ImApiName } from '../im/apis';
import { NON_RETRYABLE_ERROR_CLASSES } from '../im/errors';
import { historyBudgetReached } from './control';
import { inSample } from './sampling';
import { ENTITY_KIND } from './search-attributes';
import { apiTaskQueue, storeTaskQueue, VERIFY_ACTIVITY_API } from './task-queues';
import {
  addTally,
  formatVerifyTable,
  verifyPassed,
  verifyProgressQuery,
  type VerifyCarried,
  type VerifyInput,
  type VerifyProgress,
  type VerifyResult,
  type VerifyRun,
  type VerifyTally,
} from './verify-api';

const ID_PAGE = 100;
const ACCOUNT_BATCH = 100;
/** Account batches (account_check + portrait_get) in flight at once. */
const ACCOUNT_BATCHES = 8;
/** Conversations of one user compared side by side. */
const CONVERSATIONS_AT_ONCE = 4;

type ReadActivity = keyof VerifyActivities;

/** The activity on its read API's queue; rate-limited and retryable answers back off without a cap. */
function readActivity<A extends ReadActivity>(prefix: string, name: A): VerifyActivities[A] {
  const api: ImApiName = VERIFY_ACTIVITY_API[name];
  const proxies = proxyActivities<VerifyActivities>({
    taskQueue: apiTaskQueue(prefix, api),
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_CLASSES],
    },
  });
  return proxies[name];
}

function verifyStore(prefix: string): StoreActivities & VerifyStoreActivities {
  return proxyActivities<StoreActivities & VerifyStoreActivities>({
    taskQueue: storeTaskQueue(prefix),
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

export interface VerifyChildInput {
  run: VerifyRun;
  taskQueuePrefix: string;
  historyEventBudget?: number;
}

/** Runs (or resumes, after continue-as-new) a verification of one migration. */
export async function verifyWorkflow(input: VerifyInput): Promise<VerifyResult> {
  const { options } = input;
  const prefix = options.taskQueuePrefix;
  const run: VerifyRun = { verifyId: options.verifyId, migrationId: options.migrationId, sample: options.sample, taskQueuePrefix: prefix };
  const store = verifyStore(prefix);
  const checkAccounts = readActivity(prefix, 'verifyAccountsPage');
  const checkProfiles = readActivity(prefix, 'verifyProfilesPage');
  const state: VerifyCarried = input.carried ?? {
    startedAtMs: Date.now(),
    tally: {},
    accountsDone: false,
    usersDone: false,
    groupsDone: false,
    pendingUsers: [],
    pendingGroups: [],
    usersChecked: 0,
    groupsChecked: 0,
    runs: 0,
  };
  state.runs += 1;
  state.pendingUsers ??= [];
  state.pendingGroups ??= [];
  let stage = state.accountsDone ? 'users and groups' : 'accounts';
  const running = {
    user: new Map<string, ChildWorkflowHandle<typeof verifyUserWorkflow>>(),
    group: new Map<string, ChildWorkflowHandle<typeof verifyGroupWorkflow>>(),
  };
  let draining = false;

  const progressNow = (done = false): VerifyProgress => ({
    verifyId: options.verifyId,
    migrationId: options.migrationId,
    state: done ? 'completed' : 'running',
    stage,
    tally: state.tally,
    usersChecked: state.usersChecked,
    groupsChecked: state.groupsChecked,
    elapsedSeconds: Math.round((Date.now() - state.startedAtMs) / 1000),
    sample: options.sample,
    runs: state.runs,
  });
  setHandler(verifyProgressQuery, () => progressNow());
  const publish = (done = false) => {
    const p = progressNow(done);
    const sample = options.sample ? `, sample ${options.sample.share} (seed ${options.sample.seed})` : '';
    setCurrentDetails(
      `**Verification ${p.verifyId}** of ${p.migrationId}: ${p.state}, ${p.stage}${sample}, ${p.usersChecked} users and ${p.groupsChecked} groups checked\n\n` +
        '```\n' +
        formatVerifyTable(p.tally) +
        '\n```',
    );
  };

  if (!input.carried) await store.startVerification({ verifyId: options.verifyId, migrationId: options.migrationId });
  publish();

  while (!state.accountsDone && !draining) {
    const plan = await store.planAccountPages({ after: state.accountCursor, pageSize: ACCOUNT_BATCH, pages: ACCOUNT_BATCHES });
    await Promise.all(
      plan.starts.map(async (after) => {
        const page = { ...run, after: after ?? undefined, limit: ACCOUNT_BATCH };
        const [accounts, profiles] = await Promise.all([checkAccounts(page), checkProfiles(page)]);
        addTally(state.tally, accounts.tally);
        addTally(state.tally, profiles.tally);
      }),
    );
    state.accountCursor = plan.next;
    state.accountsDone = plan.next === undefined;
    publish();
    if (historyBudgetReached(options.historyEventBudget)) draining = true;
  }

  if (state.accountsDone) {
    stage = 'users and groups';
    publish();
    await Promise.all([runChildren('user'), runChildren('group')]);
  }

  /** A sliding window of children over the sampled users or groups. */
  async function runChildren(kind: 'user' | 'group'): Promise<void> {
    const window = kind === 'user' ? options.userConcurrency : options.groupConcurrency;
    // Ids taken from the store but not started yet: carried into the next run when this one continues-as-new.
    const queue = kind === 'user' ? state.pendingUsers : state.pendingGroups;
    for (;;) {
      if (draining) break;
      if (queue.length === 0) {
        if (kind === 'user' ? state.usersDone : state.groupsDone) break;
        const cursor = kind === 'user' ? state.userCursor : state.groupCursor;
        const page =
          kind === 'user'
            ? await store.listUserIds({ after: cursor, limit: ID_PAGE })
            : await store.listGroupIds({ after: cursor, limit: ID_PAGE });
        queue.push(...page.ids.filter((id) => inSample(id, options.sample)));
        if (kind === 'user') [state.userCursor, state.usersDone] = [page.next, page.next === undefined];
        else [state.groupCursor, state.groupsDone] = [page.next, page.next === undefined];
        continue;
      }
      await condition(() => running[kind].size < window);
      const ids = queue.splice(0, window - running[kind].size);
      await Promise.all(ids.map((id) => startVerifyChild(kind, id)));
      if (historyBudgetReached(options.historyEventBudget)) draining = true;
    }
    await condition(() => running[kind].size === 0);
  }

  async function startVerifyChild(kind: 'user' | 'group', id: string): Promise<void> {
    const childInput: VerifyChildInput = { run, taskQueuePrefix: prefix, historyEventBudget: options.historyEventBudget };
    const common = {
      workflowId: `${options.verifyId}-${kind}-${id}`,
      staticSummary: kind === 'user' ? `Verify user ${id}` : `Verify group ${id}`,
      typedSearchAttributes: [{ key: ENTITY_KIND, value: kind }],
    };
    const handle =
      kind === 'user'
        ? await startChild(verifyUserWorkflow, { ...common, args: [{ ...childInput, userId: id }] })
        : await startChild(verifyGroupWorkflow, { ...common, args: [{ ...childInput, groupId: id }] });
    (running[kind] as Map<string, ChildWorkflowHandle<typeof verifyUserWorkflow | typeof verifyGroupWorkflow>>).set(id, handle);
    void handle.result().then((tally) => {
      addTally(state.tally, tally);
      if (kind === 'user') state.usersChecked++;
      else state.groupsChecked++;
      running[kind].delete(id);
      publish();
    });
  }

  if (draining) {
    await condition(() => running.user.size === 0 && running.group.size === 0);
    return continueAsNew<typeof verifyWorkflow>({ options, carried: state });
  }
  stage = 'done';
  publish(true);
  return { ...progressNow(true), passed: verifyPassed(state.tally) };
}

export interface VerifyUserInput extends VerifyChildInput {
  userId: string;
  carried?: { tally: VerifyTally; friendsDone: boolean; conversationCursor?: string; conversationsDone: boolean };
}

/** One user's friend list and the conversations the user owns. */
export async function verifyUserWorkflow(input: VerifyUserInput): Promise<VerifyTally> {
  const { run, userId, taskQueuePrefix: prefix } = input;
  const store = verifyStore(prefix);
  const friendsPage = readActivity(prefix, 'verifyFriendsPage');
  const conversationPage = readActivity(prefix, 'verifyConversationPage');
  const state = input.carried ?? { tally: {}, friendsDone: false, conversationsDone: false };

  const friends = (async () => {
    let startIndex: number | undefined;
    while (!state.friendsDone) {
      const step = await friendsPage({ ...run, userId, startIndex });
      addTally(state.tally, step.tally);
      startIndex = step.next;
      state.friendsDone = step.next === undefined;
    }
  })();

  async function conversation(peer: string): Promise<void> {
    let cursor: RoamCursor | undefined;
    for (;;) {
      const step = await conversationPage({ ...run, owner: userId, peer, cursor });
      addTally(state.tally, step.tally);
      if (step.next === undefined) return;
      cursor = step.next;
    }
  }

  while (!state.conversationsDone) {
    const page = await store.listOwnedConversations({ userId, after: state.conversationCursor, limit: CONVERSATIONS_AT_ONCE });
    await Promise.all(page.ids.map(conversation));
    state.conversationCursor = page.next;
    state.conversationsDone = page.next === undefined;
    if (!state.conversationsDone && historyBudgetReached(input.historyEventBudget)) {
      await friends;
      return continueAsNew<typeof verifyUserWorkflow>({ ...input, carried: state });
    }
  }
  await friends;
  return state.tally;
}

export interface VerifyGroupInput extends VerifyChildInput {
  groupId: string;
}

/** One group: its profile, then members with unread counts beside its history. */
export async function verifyGroupWorkflow(input: VerifyGroupInput): Promise<VerifyTally> {
  const { run, groupId, taskQueuePrefix: prefix } = input;
  const tally: VerifyTally = {};
  const info = await readActivity(prefix, 'verifyGroupInfo')({ ...run, groupId });
  addTally(tally, info.tally);
  if (!info.compareContent) return tally;
  const membersPage = readActivity(prefix, 'verifyGroupMembersPage');
  const historyPage = readActivity(prefix, 'verifyGroupMessagesPage');
  const members = async () => {
    let offset: number | undefined;
    do {
      const step = await membersPage({ ...run, groupId, offset, nextMsgSeq: info.nextMsgSeq });
      addTally(tally, step.tally);
      offset = step.next;
    } while (offset !== undefined);
  };
  const history = async () => {
    let reqMsgSeq: number | undefined;
    do {
      const step = await historyPage({ ...run, groupId, reqMsgSeq });
      addTally(tally, step.tally);
      reqMsgSeq = step.next;
    } while (reqMsgSeq !== undefined);
  };
  await Promise.all([members(), history()]);
  return tally;
}
