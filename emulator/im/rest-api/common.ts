/**
 * What every REST handler shares: the error answer, the context a handler runs in, and request
 * parsing. Each handler module builds its request schemas once, at load: zod compiles a schema when
 * it is made, which per call was most of the emulator's CPU.
 */
import { z } from 'zod';
import type { ImApiName } from '../../../im/apis';
import { MsgBody } from '../../../im/messages';
import type { ImState } from '../state';

/** An IM error answer: HTTP 200, ActionStatus FAIL, this ErrorCode. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    info?: string,
  ) {
    super(info ?? '');
  }
}

export interface EmittedCallback {
  command: string;
  platform: string;
  body: Record<string, unknown>;
}

export interface ApiContext {
  state: ImState;
  admin: string;
  nowS: number;
  emit(cb: EmittedCallback): void;
}

export type Handler = (body: unknown, ctx: ApiContext) => Record<string, unknown>;

/** One IM service's handlers, by API name. */
export type Handlers = Partial<Record<ImApiName, Handler>>;

export function parse<T extends z.ZodType>(schema: T, body: unknown, code: number): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(code, `invalid parameters: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
  return r.data;
}

export const uint32 = z.number().int().min(0).max(0xffffffff);
/**
 * An optional field that server SDKs serialising a whole request class send as 0 or null when unset
 * (CreateTime: 0, MemberInfoFilter: null, ReqMsgSeq: 0). The docs say only "optional"; we read such
 * a value as absent, the safer reading: CreateTime 0 is "now", not 1970; ReqMsgSeq 0 is "the newest".
 */
export const unsetAsAbsent = <T extends z.ZodType>(schema: T, unset: 0 | null) =>
  z.preprocess((v) => (v === unset ? undefined : v), schema.optional());
export const tagValue = z.object({ Tag: z.string(), Value: z.union([z.string(), z.number()]) });
export const keyValue = z.object({ Key: z.string(), Value: z.string() });
export const bodySchema = MsgBody;
