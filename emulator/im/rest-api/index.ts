/**
 * What each IM REST API does to the emulator's state, with IM's documented rules and error codes
 * (../shared/docs/tencent-im-rest-api.md, tencent-im-read-apis.md). Requests are parsed with
 * schemas written here from the docs, independently of the client in im/.
 */
import type { ImApiName } from '../../../im/apis';
import { accountHandlers } from './accounts';
import { c2cHandlers } from './c2c';
import type { Handler } from './common';
import { friendHandlers } from './friends';
import { groupHandlers } from './groups';

export { ApiError, type ApiContext, type EmittedCallback } from './common';
export { appendGroupMessage, applyGroupProfile, createGroup, requireGroup } from './group-rules';
export * from './callbacks';

/** Every REST API the emulator answers, by IM service (the modules beside this one). */
export const REST_HANDLERS: Record<ImApiName, Handler> = { ...accountHandlers, ...friendHandlers, ...c2cHandlers, ...groupHandlers };
