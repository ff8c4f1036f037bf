import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, throttledWarn } from '../../src/logger.js';

afterEach(() => vi.useRealTimers());

function memoryLogger(): { lines: () => { msg: string; level: string }[]; logger: ReturnType<typeof createLogger> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('info', stream);
  const lines = () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: string });
  return { lines, logger };
}

describe('throttledWarn', () => {
  it('writes one warning per interval, across every message given to it', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const { lines, logger } = memoryLogger();
    const warn = throttledWarn(logger, 5_000);
    warn({}, 'first');
    vi.setSystemTime(1_004_999);
    warn({}, 'dropped');
    warn({}, 'another, dropped');
    vi.setSystemTime(1_005_000);
    warn({ attempt: 2 }, 'second');
    expect(lines().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'first'],
      ['warn', 'second'],
    ]);
  });
});
