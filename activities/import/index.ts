/**
 * The import's side effects: each activity reads a page from the staging store, calls one IM API,
 * records items IM rejects for good in the failure report, and returns counts and a cursor.
 * Every write is idempotent by construction (MsgSeq/MsgRandom/Random derived from the old id and
 * the message's place in the bundle, legacy/id-mapping.ts;
 * account and member imports are upserts, group history resumes after what IM already holds),
 * so Temporal may retry any activity at any point.
 */
import type { ImportActivities } from '../contracts';
import { accountActivities } from './accounts';
import { createImportContext, type ImportDeps } from './context';
import { conversationActivities } from './conversations';
import { groupHistoryActivities } from './group-history';
import { groupActivities } from './groups';
import { retryActivities } from './retry';

export type { ImportDeps } from './context';
export { createStoreActivities } from './store';

/** Every import activity, over one set of dependencies; the modules beside this one hold them by IM service. */
export function createImportActivities(deps: ImportDeps): ImportActivities {
  const ctx = createImportContext(deps);
  return {
    ...accountActivities(ctx),
    ...conversationActivities(ctx),
    ...groupActivities(ctx),
    ...groupHistoryActivities(ctx),
    ...retryActivities(ctx),
  };
}
