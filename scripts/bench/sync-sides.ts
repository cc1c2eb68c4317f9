/**
 * The sync benchmark's far side, in a process of its own as IM and the old system are in real
 * life: the IM emulator, the old-system emulator and the app users' traffic, driven over IPC by
 * scripts/bench/sync.ts. Their CPU then does not queue on the tool's event loop.
 */
import { startImEmulator, type ImEmulator } from '../../emulator/im';
import { startLegacyEmulator, type LegacyEmulator } from '../../emulator/legacy';
import { createTrafficGroups, sendTraffic } from '../lib/coexistence-traffic';
import { serveFarSide } from './far-side';

export type SidesCommand =
  | { cmd: 'start'; args: { im: { sdkAppId: number; secretKey: string; admin: string }; legacySecret: string } }
  | { cmd: 'setCallback'; args: { url: string; token: string } }
  | { cmd: 'setGatewayUrl'; args: { url: string } }
  | { cmd: 'imDrained' }
  | { cmd: 'legacyDrained' }
  | { cmd: 'createTrafficGroups'; args: Parameters<typeof createTrafficGroups>[1] }
  | { cmd: 'sendTraffic'; args: { plan: Parameters<typeof sendTraffic>[1]; ledger: Parameters<typeof sendTraffic>[2] } }
  | { cmd: 'states' }
  | { cmd: 'close' };

let im: ImEmulator | undefined;
let legacy: LegacyEmulator | undefined;

async function handle(c: SidesCommand): Promise<unknown> {
  if (c.cmd === 'start') {
    im = await startImEmulator({ ...c.args.im, faults: { latencyMs: Number(process.env.BENCH_SYNC_IM_LATENCY_MS ?? 30) } });
    legacy = await startLegacyEmulator({ secret: c.args.legacySecret });
    return { imBaseUrl: im.baseUrl, legacyBaseUrl: legacy.baseUrl };
  }
  if (!im || !legacy) throw new Error('not started');
  switch (c.cmd) {
    case 'setCallback':
      return im.setCallback(c.args.url, c.args.token);
    case 'setGatewayUrl':
      return legacy.setGatewayUrl(c.args.url);
    case 'imDrained':
      return im.callbacksDrained();
    case 'legacyDrained':
      return legacy.eventsDrained();
    case 'createTrafficGroups':
      return createTrafficGroups({ legacy, im }, c.args);
    case 'sendTraffic':
      return sendTraffic({ legacy, im }, c.args.plan, c.args.ledger);
    case 'states':
      return { im: im.snapshot(), legacy: { messages: legacy.messages(), groups: legacy.groups() } };
    case 'close':
      await legacy.close();
      await im.close();
      return undefined;
  }
}

serveFarSide(handle);
