import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds (user + system) processes have used so far, from /proc (Linux): by pid, or summed over
 * every process whose command name is one of `names` (the database servers a bench talks to). Taken
 * before and after a segment, it says which process a segment's time went to on shared cores.
 */
const TICKS_PER_SECOND = 100;

function cpuOfPid(pid: number): number {
  return cpuOfStat(`/proc/${pid}/stat`);
}

/** CPU seconds one thread of a process has used (the main thread's id is the process id). */
export function threadCpuSeconds(pid: number, tid: number = pid): number {
  return cpuOfStat(`/proc/${pid}/task/${tid}/stat`);
}

function cpuOfStat(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
  } catch {
    return 0; // gone, or no /proc
  }
}

export function cpuSecondsOf(pids: number[], names: string[] = []): number {
  let total = pids.reduce((sum, pid) => sum + cpuOfPid(pid), 0);
  if (names.length === 0) return total;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return total;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) total += cpuOfPid(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return total;
}
