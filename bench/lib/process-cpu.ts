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

/**
 * What the processes counted by name had when last seen, per set of names: a process that exits
 * between two readings (a database backend whose connection closed) keeps counting with its last
 * reading, so the sum never goes down and a segment's difference is never negative (it misses only
 * what such a process used after its last reading).
 */
const byNames = new Map<string, { last: Map<number, number>; exited: number }>();

export function cpuSecondsOf(pids: number[], names: string[] = []): number {
  const total = pids.reduce((sum, pid) => sum + cpuOfPid(pid), 0);
  if (names.length === 0) return total;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return total;
  }
  const now = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) now.set(Number(entry), cpuOfPid(Number(entry)));
    } catch {
      // exited meanwhile
    }
  }
  const key = names.join('\0');
  const state = byNames.get(key) ?? { last: new Map<number, number>(), exited: 0 };
  for (const [pid, cpu] of state.last) if (!now.has(pid)) state.exited += cpu;
  state.last = now;
  byNames.set(key, state);
  return total + state.exited + [...now.values()].reduce((sum, cpu) => sum + cpu, 0);
}

/** The thread ids of a process now (to tell the threads a component starts from those already there). */
export function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/**
 * Seconds a thread has run on a CPU and waited for one (runnable, on a run queue), from
 * /proc/<pid>/task/<tid>/schedstat. Running + waiting close to the wall time means the thread had
 * work all along: what bounds it is CPU (its own, or a CPU given to other work on shared cores).
 */
export function threadSchedule(pid: number, tid: number = pid): { run: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { run: (run ?? 0) / 1e9, wait: (wait ?? 0) / 1e9 };
  } catch {
    return { run: 0, wait: 0 };
  }
}
