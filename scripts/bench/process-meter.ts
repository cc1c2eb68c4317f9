/**
 * CPU and memory of the benchmark's processes, read from /proc (Linux): this process (the workers),
 * and children such as the dev server and the emulator's process, which Node cannot ask directly.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessMeter {
  name: string;
  /** User plus system CPU seconds since the process started (all its threads). */
  cpuSeconds(): number;
  rssMb(): number;
  /** The highest resident set size of the process's life. */
  peakRssMb(): number;
}

/** /proc's CPU times are in clock ticks: 100 a second on Linux (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}:`));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

/** The fields after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export function pidMeter(name: string, pid: number): ProcessMeter {
  return {
    name,
    // Fields 14 and 15 of stat (utime, stime): 11 and 12 after the command name.
    cpuSeconds: () => {
      const f = statFields(pid);
      return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
    },
    rssMb: () => statusKb(pid, 'VmRSS') / 1024,
    peakRssMb: () => statusKb(pid, 'VmHWM') / 1024,
  };
}

export const thisProcessMeter = (name: string): ProcessMeter => pidMeter(name, process.pid);

/** A child of this process whose command line contains `marker` (e.g. the dev server the SDK spawned). */
export function childPid(marker: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error(`no child process of ${process.pid} with "${marker}" in its command line`);
}
