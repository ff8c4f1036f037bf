import { describe, expect, it } from 'vitest';
import { planBatches } from '../../src/wire/batches.js';
import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from '../../src/wire/limits.js';
import { messageBytes } from '../../src/wire/message-size.js';
import { acknowledgedPrefix } from '../../src/relay/publisher/prefix.js';
import { laneOf, planTasks } from '../../src/relay/publisher/tasks.js';
import type { PreparedMessage } from '../../src/relay/publisher/prepare.js';

const sized = (bytes: number, i = 0) => ({ bytes, i });

describe('SNS message size', () => {
  it('counts UTF-8 body bytes plus attribute name, data type and value bytes', () => {
    expect(messageBytes('héllo', {})).toBe(6);
    expect(
      messageBytes('{}', {
        table: { DataType: 'String', StringValue: 'public.t' },
        changed: { DataType: 'String.Array', StringValue: '["a","é"]' },
      }),
    ).toBe(2 + (5 + 6 + 8) + (7 + 12 + 10));
  });
});

describe('planBatches', () => {
  it('packs at most 10 entries per batch, in order', () => {
    const batches = planBatches(Array.from({ length: 25 }, (_, i) => sized(10, i)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((m) => m.i)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });

  it('closes a batch before it would exceed 256 KiB', () => {
    const batches = planBatches([sized(100_000), sized(100_000), sized(62_144), sized(1), sized(MAX_BATCH_BYTES)]);
    expect(batches.map((b) => b.map((m) => m.bytes))).toEqual([[100_000, 100_000, 62_144], [1], [MAX_BATCH_BYTES]]);
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(MAX_BATCH_ENTRIES);
      expect(b.reduce((n, m) => n + m.bytes, 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
  });

  it('respects both limits on random sizes', () => {
    const messages = Array.from({ length: 2_000 }, (_, i) => sized(1 + Math.floor(Math.random() * 60_000), i));
    const batches = planBatches(messages);
    expect(batches.flat()).toEqual(messages);
    for (const b of batches) {
      expect(b.length).toBeGreaterThan(0);
      expect(b.length).toBeLessThanOrEqual(10);
      expect(b.reduce((n, m) => n + m.bytes, 0)).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
  });

  it('refuses a message that cannot fit any batch', () => {
    expect(() => planBatches([sized(MAX_BATCH_BYTES + 1)])).toThrow(/cannot fit/);
  });
});

describe('acknowledgedPrefix', () => {
  it('stops at the first unacknowledged event, whatever follows', () => {
    expect(acknowledgedPrefix([])).toBe(0);
    expect(acknowledgedPrefix([true, true, true])).toBe(3);
    const flags = Array.from({ length: 1000 }, (_, i) => i !== 5);
    expect(acknowledgedPrefix(flags)).toBe(5);
    expect(acknowledgedPrefix([false, true])).toBe(0);
  });
});

describe('planTasks', () => {
  const topic = (key: string, fifo: boolean) => ({ key, arn: `arn:aws:sns:us-east-1:000000000000:${key}`, fifo });
  const msg = (index: number, t: ReturnType<typeof topic>, groupId?: string) =>
    ({ index, topic: t, bytes: 100, ...(groupId ? { groupId } : {}) }) as unknown as PreparedMessage;

  it('makes one task per batch for a standard topic, in event order', () => {
    const std = topic('std', false);
    const tasks = planTasks(Array.from({ length: 35 }, (_, i) => msg(i, std)), 4);
    expect(tasks.map((t) => t.first)).toEqual([0, 10, 20, 30]);
    expect(tasks.every((t) => t.batches.length === 1)).toBe(true);
  });

  it('keeps each FIFO message group in one lane, in order', () => {
    const fifo = topic('f.fifo', true);
    const groups = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const messages = Array.from({ length: 200 }, (_, i) => msg(i, fifo, groups[i % groups.length]));
    const tasks = planTasks(messages, 3);
    expect(tasks.length).toBeLessThanOrEqual(3);
    for (const g of groups) {
      const holding = tasks.filter((t) => t.batches.flat().some((m) => m.groupId === g));
      expect(holding).toHaveLength(1);
      const order = holding[0]!.batches.flat().filter((m) => m.groupId === g).map((m) => m.index);
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(laneOf(g, 3)).toBe(laneOf(g, 3));
    }
    expect(tasks.flatMap((t) => t.batches.flat()).length).toBe(200);
  });
});
