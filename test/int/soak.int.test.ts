/**
 * The short soak (bench/soak.ts runs the long one): an idle and a busy relay + consumer pair, in
 * this process, for ≈ 40 s. No listener count may grow — a loop that adds a listener per pause
 * (the old consumer: ≈ 30 a second) is far past the bound within seconds — and the heap after a full
 * GC stays within generous bounds, so a loaded machine cannot make it flake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../src/sleep.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { slope, startSoakSubject, type SoakSample, type SoakSubject } from '../helpers/soak.js';

const SECONDS = 40;
const WARMUP_SECONDS = 10;
/**
 * Beyond a component's fixed listeners, a count is the number of pauses, requests or waits under way
 * at one moment: a handful, whatever the time. A leak of one listener per pause passes this in seconds.
 */
const MAX_SWING = 10;

let emulator: Emulator;
const subjects: SoakSubject[] = [];

beforeAll(async () => {
  emulator = await startEmulator();
  subjects.push(...(await Promise.all([startSoakSubject({ mode: 'idle', endpoint: emulator.endpoint }), startSoakSubject({ mode: 'busy', endpoint: emulator.endpoint, ratePerSec: 40 })])));
});

afterAll(async () => {
  await Promise.all(subjects.map((s) => s.close()));
  await emulator?.stop();
});

describe('soak (short)', () => {
  it('an idle and a busy relay and consumer keep their listener counts and heap flat', async () => {
    const samples = new Map<string, SoakSample[]>(subjects.map((s) => [s.mode, []]));
    const begun = Date.now();
    while (Date.now() - begun < SECONDS * 1000) {
      await sleep(2_000);
      for (const s of subjects) samples.get(s.mode)!.push(s.sample());
    }
    for (const [mode, list] of samples) {
      const warm = list.filter((s) => s.t - list[0]!.t >= WARMUP_SECONDS);
      for (const name of Object.keys(list[0]!.listeners)) {
        const counts = list.map((s) => s.listeners[name]!);
        const first = Math.max(...counts.slice(0, 3));
        expect(Math.max(...counts), `${mode}: ${name} grows: ${counts.join(' ')}`).toBeLessThanOrEqual(first + MAX_SWING);
      }
      // the process's own handles (timers, sockets) do not pile up either
      expect(Math.max(...warm.map((s) => s.activeResources)), `${mode}: active resources ${list.map((s) => s.activeResources).join(' ')}`).toBeLessThanOrEqual(Math.max(...list.slice(0, 3).map((s) => s.activeResources)) + 40);
    }
    // The heap is the process's (both subjects and vitest); after a full GC it moves by a few MiB.
    const all = [...samples.values()][0]!.filter((s) => s.t >= WARMUP_SECONDS);
    const heapSlope = slope(all.map((s) => ({ x: s.t / 60, y: s.heapMiB })));
    expect(heapSlope, `heap MiB per minute; samples ${all.map((s) => s.heapMiB.toFixed(1)).join(' ')}`).toBeLessThan(30);
    const busy = samples.get('busy')!.at(-1)!;
    expect(busy.written).toBeGreaterThan(100);
    expect(busy.applied).toBeGreaterThan(0);
    // and the busy pair really carried its changes: the target equals the source
    await subjects.find((s) => s.mode === 'busy')!.converge(60_000);
  }, 150_000);
});
