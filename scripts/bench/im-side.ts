/**
 * The import benchmark's far side: IM emulators in a process of their own, as IM is a remote
 * service, driven over IPC by scripts/bench/import.ts. Each runs until `close`.
 */
import { startImEmulator, type EmulatorCounters, type ImEmulator, type ImEmulatorOptions } from '../../emulator/im';
import { forkFarSide, serveFarSide } from './far-side';

export type ImSideCommand =
  | { cmd: 'start'; args: Pick<ImEmulatorOptions, 'sdkAppId' | 'secretKey' | 'admin' | 'limits' | 'faults'> }
  | { cmd: 'counters' | 'reset' | 'close'; baseUrl: string }
  | { cmd: 'setLimits'; baseUrl: string; limits: NonNullable<ImEmulatorOptions['limits']> };

/** The benchmark's handle on one emulator over there. */
export interface RemoteImEmulator {
  baseUrl: string;
  counters(): Promise<EmulatorCounters>;
  reset(): Promise<void>;
  setLimits(limits: NonNullable<ImEmulatorOptions['limits']>): Promise<void>;
  close(): Promise<void>;
}

export function forkImSide(): {
  pid: number;
  start(options: Extract<ImSideCommand, { cmd: 'start' }>['args']): Promise<RemoteImEmulator>;
  exit(): void;
} {
  const far = forkFarSide<ImSideCommand>(__filename);
  return {
    pid: far.pid,
    async start(args) {
      const baseUrl = await far.call<string>({ cmd: 'start', args });
      return {
        baseUrl,
        counters: () => far.call<EmulatorCounters>({ cmd: 'counters', baseUrl }),
        reset: () => far.call<void>({ cmd: 'reset', baseUrl }),
        setLimits: (limits) => far.call<void>({ cmd: 'setLimits', baseUrl, limits }),
        close: () => far.call<void>({ cmd: 'close', baseUrl }),
      };
    },
    exit: () => far.exit(),
  };
}

if (require.main === module) {
  const emulators = new Map<string, ImEmulator>();
  serveFarSide<ImSideCommand>(async (c) => {
    if (c.cmd === 'start') {
      const emulator = await startImEmulator(c.args);
      emulators.set(emulator.baseUrl, emulator);
      return emulator.baseUrl;
    }
    const emulator = emulators.get(c.baseUrl);
    if (!emulator) throw new Error(`no emulator at ${c.baseUrl}`);
    if (c.cmd === 'counters') return emulator.counters();
    if (c.cmd === 'reset') return emulator.reset();
    if (c.cmd === 'setLimits') return emulator.setLimits(c.limits);
    emulators.delete(c.baseUrl);
    return emulator.close();
  });
}
