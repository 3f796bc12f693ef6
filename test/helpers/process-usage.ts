import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** What a process has used so far, read from Linux's /proc as `ps` and `top` do. */
export interface ProcessUsage {
  /** User + system CPU time since the process started (clock-tick resolution, usually 10 ms). */
  readonly cpuMs: number;
  /** Resident set size now. */
  readonly rssMb: number;
  /** Peak resident set size since the process started (VmHWM): catches a peak a later GC gave back. */
  readonly peakRssMb: number;
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat (100 on Linux almost everywhere). */
function clockTicksPerSecond(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return ticksPerSecond;
}

/** CPU and memory of process `pid`, now. Judges the cost of an attack by the server's own work, not wall-clock. */
export function readUsage(pid: number): ProcessUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) is in parentheses and may hold spaces: count fields from the last ')'. What follows starts at
  // field 3 (state); utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const megabytes = (name: string): number => {
    const kb = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    if (kb === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(kb) / 1024;
  };
  return {
    cpuMs: (ticks * 1000) / clockTicksPerSecond(),
    rssMb: megabytes('VmRSS'),
    peakRssMb: megabytes('VmHWM'),
  };
}

/** What `work` cost process `pid`: CPU spent, and how far its resident memory rose above where it started. */
export interface UsageDelta {
  readonly cpuMs: number;
  /** Peak RSS during the work minus RSS before it. */
  readonly rssGrowthMb: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
}

/**
 * Resets the process's peak RSS to its current RSS (`5` to /proc/<pid>/clear_refs, Linux >= 4.0; allowed on our own
 * child), so that the next peak is the work's, not start-up's. Returns false where the kernel refuses.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export async function measureUsage<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; usage: UsageDelta }> {
  const peakIsOurs = resetPeakRss(pid);
  const before = readUsage(pid);
  const result = await work();
  const after = readUsage(pid);
  return {
    result,
    usage: {
      cpuMs: after.cpuMs - before.cpuMs,
      // Without a reset the peak may be start-up's: then only the RSS at the end says anything.
      rssGrowthMb: Math.max(0, (peakIsOurs ? after.peakRssMb : after.rssMb) - before.rssMb),
      rssBeforeMb: before.rssMb,
      rssAfterMb: after.rssMb,
    },
  };
}

/** One line for a report: `label: 123 ms CPU, RSS +4.0 MB (91.2 → 95.2 MB)`. */
export function describeUsage(label: string, usage: UsageDelta): string {
  return (
    `${label}: ${usage.cpuMs.toFixed(0)} ms CPU, RSS +${usage.rssGrowthMb.toFixed(1)} MB ` +
    `(${usage.rssBeforeMb.toFixed(1)} → ${usage.rssAfterMb.toFixed(1)} MB)`
  );
}
