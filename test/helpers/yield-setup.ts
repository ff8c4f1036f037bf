/**
 * Unit-tier setup: yield one macrotask before each test.
 *
 * vitest runs one synchronous test after another without leaving the microtask queue, so a worker
 * whose tests are all synchronous (the T-SQL parse gate: many parses of tens of milliseconds) does not
 * read the runner's replies until its file ends. When such a file takes over a minute (it does on a
 * loaded machine), the worker's own RPC timeout of 60 s fires first and the run fails with
 * "Timeout calling onTaskUpdate" although every test passed. Reproduced with 75 tests that spin 1 s
 * each: the error without this hook, none with it.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { beforeEach } from 'vitest';

beforeEach(async () => {
  await yieldToEventLoop();
});
