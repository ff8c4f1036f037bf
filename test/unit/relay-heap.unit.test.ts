import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setWorkerSemiSpace } from '../../src/relay/heap.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('relay heap settings', () => {
  it('setWorkerSemiSpace sizes the young generation of worker threads started after it, not of the calling thread', () => {
    // In a process of its own: the flag is process-wide. A worker that allocates short-lived objects
    // grows its new space to the largest size it may have.
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8';
      import { Worker } from 'node:worker_threads';
      import { setWorkerSemiSpace } from './src/relay/heap.ts';
      const churn = "let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 5000) keep = []; }";
      const report = "Promise.all([import('node:v8'), import('node:worker_threads')]).then(([v8, wt]) => wt.parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576));";
      const worker = () => new Promise((resolve) => {
        const w = new Worker(churn + '; ' + report, { eval: true });
        w.once('message', (mb) => { resolve(mb); void w.terminate(); });
      });
      const before = await worker();
      setWorkerSemiSpace(2);
      const after = await worker();
      eval(churn);
      const main = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
      console.log(JSON.stringify({ before, after, main }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    const { before, after, main } = JSON.parse(out.trim().split('\n').at(-1)!) as { before: number; after: number; main: number };
    expect(after).toBeLessThanOrEqual(4); // two semi-spaces of at most 2 MiB
    expect(before).toBeGreaterThan(after);
    expect(main).toBeGreaterThan(after); // the calling thread keeps the size it was created with
  });

  it('setWorkerSemiSpace takes a whole number of MiB ≥ 1', () => {
    expect(() => setWorkerSemiSpace(0)).toThrow(RangeError);
    expect(() => setWorkerSemiSpace(1.5)).toThrow(RangeError);
  });
});
