import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { quietAwsSdkNodeWarning } from '../../src/config/node-version.js';
import { Consumer } from '../../src/consumer/consumer.js';
import { abortListeners } from '../../src/listeners.js';
import { Waker } from '../../src/relay/waker.js';
import { sleep } from '../../src/sleep.js';
import type { TargetWriter } from '../../src/targets/types.js';
import { freePort } from '../helpers/relay.js';
import { waitFor } from '../helpers/wait.js';

quietAwsSdkNodeWarning();

describe('sleep', () => {
  it('leaves no abort listener on a long-lived signal, however often it pauses', async () => {
    const stop = new AbortController();
    for (let i = 0; i < 500; i++) expect(await sleep(0, stop.signal)).toBe(true);
    await Promise.all(Array.from({ length: 500 }, () => sleep(1, stop.signal)));
    expect(abortListeners(stop.signal)).toBe(0);
  });

  it('holds one listener while it waits and ends early, without an error, when the signal aborts', async () => {
    const stop = new AbortController();
    const started = performance.now();
    const pause = sleep(60_000, stop.signal);
    expect(abortListeners(stop.signal)).toBe(1);
    stop.abort(new Error('stopping'));
    expect(await pause).toBe(false);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(abortListeners(stop.signal)).toBe(0);
    expect(await sleep(60_000, stop.signal)).toBe(false);
  });
});

describe('Waker', () => {
  it('leaves no abort listener after waits that time out, are notified or were notified before', async () => {
    const stop = new AbortController();
    const waker = new Waker();
    for (let i = 0; i < 200; i++) await waker.wait(0, stop.signal);
    for (let i = 0; i < 200; i++) {
      const wait = waker.wait(60_000, stop.signal);
      waker.notify();
      await wait;
    }
    waker.notify();
    await waker.wait(60_000, stop.signal);
    expect(abortListeners(stop.signal)).toBe(0);
  });

  it('a stop ends the wait under way', async () => {
    const stop = new AbortController();
    const wait = new Waker().wait(60_000, stop.signal);
    stop.abort();
    await wait;
    expect(abortListeners(stop.signal)).toBe(0);
  });
});

describe('Consumer listeners', () => {
  it('an idle consumer (extra loops pausing, receives failing and retried) keeps a constant listener count', async () => {
    // SQS on a port nobody listens on: every receive fails at once and is retried after 5 ms, and the
    // extra loops pause every 100 ms while the queue has no backlog — the pauses of the old consumer
    // each left a listener on its stop signal (≈ 30 a second).
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    const writer: TargetWriter = { kind: 'http', init: () => Promise.resolve([]), apply: () => Promise.reject(new Error('no message is received')), close: () => Promise.resolve() };
    const concurrency = 4;
    const consumer = new Consumer({
      target: 'idle',
      queue: { maxReceiveCount: 5, visibilityTimeoutSec: 30, waitTimeSec: 1, batchSize: 10, concurrency, applyConcurrency: 1 },
      breaker: { timeoutMs: 5_000, errorThresholdPercentage: 50, resetTimeoutMs: 1_000, volumeThreshold: 5, rollingCountTimeoutMs: 10_000 },
      queueUrl: `${endpoint}/000000000000/idle`,
      dlqUrl: `${endpoint}/000000000000/idle-dlq`,
      fifo: false,
      sqs,
      writer,
      transform: () => null,
      receiveRetryMs: 5,
    });
    let failures = 0;
    consumer.on('receive-failed', () => (failures += 1));
    const running = consumer.start();
    try {
      const counts: number[] = [];
      await waitFor(() => failures >= 3, { timeoutMs: 20_000, what: 'failed receives' });
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        counts.push(consumer.listenerCounts()['consumer stop signal']!);
        await sleep(50);
      }
      // at most one pending pause per loop at any moment
      expect(Math.max(...counts)).toBeLessThanOrEqual(concurrency);
      expect(consumer.listenerCounts()['consumer abort signal']).toBeLessThanOrEqual(concurrency);
    } finally {
      await consumer.stop({ force: true });
      await running;
      sqs.destroy();
    }
    expect(consumer.listenerCounts()['consumer stop signal']).toBe(0);
  });
});
