/**
 * Admin UserSig (TLS sig API v2, HMAC-SHA256): generated with Tencent's own `tls-sig-api-v2`,
 * cached and renewed before it expires; and verified, for the emulator, exactly as IM does
 * (decode, HMAC-SHA256 with the secret key, expiry, SDKAppID, identifier).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { inflateSync } from 'node:zlib';
// The package.json of tls-sig-api-v2 names two "main" files; import the real one explicitly.
import { Api as TlsSigApi } from 'tls-sig-api-v2/TLSSigAPIv2';

/** Lifetime of each admin UserSig we generate; renewed when less than RENEW_BEFORE_S remains. */
export const ADMIN_USERSIG_LIFETIME_S = 24 * 3600;
const RENEW_BEFORE_S = 300;

export class AdminUserSig {
  private readonly api: TlsSigApi;
  private cached?: { sig: string; expiresAt: number };

  constructor(
    sdkAppId: number,
    secretKey: string,
    readonly admin: string,
    private readonly lifetimeS = ADMIN_USERSIG_LIFETIME_S,
    private readonly nowS: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.api = new TlsSigApi(sdkAppId, secretKey);
  }

  /** The current admin UserSig, generating a new one when the cached one is near expiry. */
  get(): string {
    const now = this.nowS();
    if (!this.cached || this.cached.expiresAt - now < RENEW_BEFORE_S) {
      this.cached = { sig: this.api.genUserSig(this.admin, this.lifetimeS), expiresAt: now + this.lifetimeS };
    }
    return this.cached.sig;
  }

  /** Forget the cached sig, e.g. after IM answered with an auth error. */
  invalidate(): void {
    this.cached = undefined;
  }
}

export interface DecodedUserSig {
  'TLS.ver': string;
  'TLS.identifier': string;
  'TLS.sdkappid': number;
  'TLS.time': number;
  'TLS.expire': number;
  'TLS.userbuf'?: string;
  'TLS.sig': string;
}

/** Undo the URL-safe base64 and zlib of a UserSig; undefined when it is not a UserSig at all. */
export function decodeUserSig(userSig: string): DecodedUserSig | undefined {
  try {
    const base64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    const doc = JSON.parse(inflateSync(Buffer.from(base64, 'base64')).toString('utf8')) as Partial<DecodedUserSig>;
    if (
      typeof doc['TLS.identifier'] !== 'string' ||
      typeof doc['TLS.sig'] !== 'string' ||
      typeof doc['TLS.time'] !== 'number' ||
      typeof doc['TLS.expire'] !== 'number' ||
      typeof doc['TLS.sdkappid'] !== 'number'
    ) {
      return undefined;
    }
    return doc as DecodedUserSig;
  } catch {
    return undefined;
  }
}

/** The HMAC-SHA256 over the documented string-to-sign, standard base64. */
export function userSigHmac(secretKey: string, doc: Omit<DecodedUserSig, 'TLS.sig' | 'TLS.ver'>): string {
  let content =
    `TLS.identifier:${doc['TLS.identifier']}\n` +
    `TLS.sdkappid:${doc['TLS.sdkappid']}\n` +
    `TLS.time:${doc['TLS.time']}\n` +
    `TLS.expire:${doc['TLS.expire']}\n`;
  if (doc['TLS.userbuf'] !== undefined) content += `TLS.userbuf:${doc['TLS.userbuf']}\n`;
  return createHmac('sha256', secretKey).update(content).digest('base64');
}

export type UserSigCheck = { ok: true; identifier: string; expiresAtS: number } | { ok: false; code: number; reason: string };

/**
 * Verify a UserSig as IM does. Error codes are IM's: 70002 empty, 70003 malformed, 70014
 * SDKAppID mismatch, 70009 HMAC mismatch (wrong key), 70001 expired, 70013 identifier mismatch.
 */
export function verifyUserSig(
  userSig: string | undefined,
  expected: { sdkAppId: number; secretKey: string; identifier: string; nowS: number },
): UserSigCheck {
  if (!userSig) return { ok: false, code: 70002, reason: 'UserSig is empty' };
  const doc = decodeUserSig(userSig);
  if (!doc) return { ok: false, code: 70003, reason: 'UserSig cannot be decoded' };
  if (doc['TLS.sdkappid'] !== expected.sdkAppId) {
    return { ok: false, code: 70014, reason: 'SDKAppID in the UserSig does not match the request' };
  }
  const want = Buffer.from(userSigHmac(expected.secretKey, doc));
  const got = Buffer.from(doc['TLS.sig']);
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    return { ok: false, code: 70009, reason: 'UserSig signature verification failed' };
  }
  if (expected.nowS > doc['TLS.time'] + doc['TLS.expire']) {
    return { ok: false, code: 70001, reason: 'UserSig expired' };
  }
  if (doc['TLS.identifier'] !== expected.identifier) {
    return { ok: false, code: 70013, reason: 'identifier does not match the UserID in the UserSig' };
  }
  return { ok: true, identifier: doc['TLS.identifier'], expiresAtS: doc['TLS.time'] + doc['TLS.expire'] };
}
