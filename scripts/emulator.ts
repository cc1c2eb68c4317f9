/**
 * `npm run emulator -- --port <p> --sdkappid <id> --secret-key <key> --admin <identifier> …`:
 * the Tencent IM emulator as a process. Prints one line with its base URL. The secret key may
 * also come from TIM_SECRET_KEY (never printed). `--legacy-port` also runs the old-system emulator
 * (the bridge's secret from TIM_LEGACY_WEBHOOK_SECRET), posting its events to `--gateway-url`.
 * Rate and batch limits come from the tool's own settings (`TIM_RATE_<API>`, `TIM_BATCH_<API>`,
 * im/apis.ts), so a rehearsal with raised limits raises them on both sides.
 */
import { Command, InvalidArgumentError } from 'commander';
import { resolveApiLimits } from '../im/apis';
import { startImEmulator } from '../emulator/im';
import { startLegacyEmulator, type LegacyEmulator } from '../emulator/legacy';

const num = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name}: expected a non-negative number, got "${value}"`);
  return n;
};

const program = new Command('emulator')
  .description('a local Tencent IM emulator')
  .option('--port <port>', 'port to listen on (0 picks a free one)', num('--port'), 0)
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .requiredOption('--sdkappid <id>', 'the SDKAppID it answers for', num('--sdkappid'))
  .option('--secret-key <key>', 'the app secret key that signs UserSigs (or TIM_SECRET_KEY)')
  .requiredOption('--admin <identifier>', 'the App admin account')
  .option('--callback-url <url>', 'where to send IM callbacks')
  .option('--callback-token <token>', 'callback authentication token (adds Sign and RequestTime)')
  .option('--latency-ms <ms>', 'added latency per call', num('--latency-ms'), 30)
  .option('--error-rate <share>', 'share of calls answered with a retryable error', num('--error-rate'), 0)
  .option('--timeout-rate <share>', 'share of calls applied but never answered', num('--timeout-rate'), 0)
  .option('--http5xx-rate <share>', 'share of calls answered with HTTP 502', num('--http5xx-rate'), 0)
  .option(
    '--legacy-port <port>',
    'also run the old-system emulator on this port (0 picks one); secret from TIM_LEGACY_WEBHOOK_SECRET',
    num('--legacy-port'),
  )
  .option('--gateway-url <url>', "where the old-system emulator posts its events (the sync gateway's base URL)")
  .addHelpText(
    'after',
    '\nRate and batch limits: the defaults of im/apis.ts, overridden from the environment by the same settings as the tool,\n' +
      'TIM_RATE_<API> (calls per second) and TIM_BATCH_<API> (items per call), e.g. TIM_RATE_IMPORTMSG=2000.',
  )
  .parse();

async function main(): Promise<void> {
  const o = program.opts();
  const secretKey: string | undefined = o.secretKey ?? process.env.TIM_SECRET_KEY;
  if (!secretKey) throw new Error('--secret-key (or TIM_SECRET_KEY) is required');
  const emulator = await startImEmulator({
    sdkAppId: o.sdkappid,
    limits: resolveApiLimits(process.env),
    secretKey,
    admin: o.admin,
    host: o.host,
    port: o.port,
    callbackUrl: o.callbackUrl,
    callbackToken: o.callbackToken ?? process.env.TIM_CALLBACK_TOKEN,
    faults: { latencyMs: o.latencyMs, retryableErrorRate: o.errorRate, timeoutRate: o.timeoutRate, http5xxRate: o.http5xxRate },
  });
  console.log(emulator.baseUrl);
  let legacy: LegacyEmulator | undefined;
  if (o.legacyPort !== undefined) {
    const secret = process.env.TIM_LEGACY_WEBHOOK_SECRET;
    if (!secret) throw new Error('--legacy-port needs TIM_LEGACY_WEBHOOK_SECRET (the bridge secret)');
    legacy = await startLegacyEmulator({ secret, host: o.host, port: o.legacyPort, gatewayUrl: o.gatewayUrl });
    console.log(`old system: ${legacy.baseUrl}`);
  }
  const stop = async () => {
    await legacy?.close();
    await emulator.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
