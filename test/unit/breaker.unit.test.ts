import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { breakerStateOf, createBreaker, type BreakerState } from '../../src/breaker.js';

const settings = { timeoutMs: 1_000, errorThresholdPercentage: 50, resetTimeoutMs: 50, volumeThreshold: 0, rollingCountTimeoutMs: 10_000 };

describe('createBreaker', () => {
  it('sets the gauge at once and on every change, and reports each change', async () => {
    let fail = true;
    const gauge: number[] = [];
    const changes: BreakerState[] = [];
    const breaker = createBreaker(async (n: number) => (fail ? Promise.reject(new Error('down')) : n), settings, {
      gauge: (v) => gauge.push(v),
      onChange: (s) => changes.push(s),
    });
    try {
      expect(gauge).toEqual([0]);
      await expect(breaker.fire(1)).rejects.toThrow('down');
      expect(breakerStateOf(breaker)).toBe('open');
      await expect(breaker.fire(1)).rejects.toMatchObject({ code: 'EOPENBREAKER' });
      await once(breaker, 'halfOpen');
      expect(breakerStateOf(breaker)).toBe('half-open');
      fail = false;
      await expect(breaker.fire(2)).resolves.toBe(2);
      expect(breakerStateOf(breaker)).toBe('closed');
      expect(gauge).toEqual([0, 2, 1, 0]);
      expect(changes).toEqual(['open', 'half-open', 'closed']);
    } finally {
      breaker.shutdown();
    }
  });

  it('does not count an error the filter says is not about the service', async () => {
    const breaker = createBreaker(async (permanent: boolean) => Promise.reject(Object.assign(new Error('refused'), { permanent })), settings, {
      errorFilter: (err) => (err as { permanent?: boolean }).permanent === true,
      gauge: () => undefined,
      onChange: () => undefined,
    });
    try {
      await expect(breaker.fire(true)).rejects.toThrow('refused');
      expect(breakerStateOf(breaker)).toBe('closed');
      // The filtered error counts as a success: one failure of two does not exceed 50 %, two of three do.
      await expect(breaker.fire(false)).rejects.toThrow('refused');
      expect(breakerStateOf(breaker)).toBe('closed');
      await expect(breaker.fire(false)).rejects.toThrow('refused');
      expect(breakerStateOf(breaker)).toBe('open');
    } finally {
      breaker.shutdown();
    }
  });
});
