import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import Redlock, { type Lock } from 'redlock';
import { describeError, OutboxError } from '../errors.js';
import { throttledWarn, type Logger, type ThrottledWarn } from '../logger.js';
import { sleep } from '../sleep.js';

/**
 * Leadership through a redlock lock over dedicated ioredis clients (one per Redis node).
 *
 * redlock 5.0.0-beta.2's `using()` can hand out an already-expired lock after retries, so this
 * does its own loop: `acquire` with no retries, `extend` (which returns a new lock) when
 * `renewAtFraction` of the TTL is left, and leadership is lost the moment a renewal fails, times
 * out, or the local deadline passes without one (a paused process). The lock is not the safety
 * mechanism — the database epoch is — but it keeps a second leader rare.
 */
export interface LeaderOptions {
  redisUrls: string[];
  /** Redis key of the lock. */
  lockKey: string;
  instanceId: string;
  ttlMs: number;
  /** Renew when this fraction of the TTL is left. */
  renewAtFraction: number;
  /** Redis command timeout; far below the TTL. */
  commandTimeoutMs: number;
  /** How often a standby tries to take the lock. */
  acquireIntervalMs: number;
  logger: Logger;
}

/** A leadership term. `signal` aborts the moment leadership is lost or given up. */
export interface Lease {
  readonly signal: AbortSignal;
  /** Until when (Date.now() ms) the lock is known to be held, if renewals keep succeeding. */
  validUntil(): number;
  /** Gives the term up now (e.g. fenced by the database), with the reason. */
  abandon(reason: string): void;
}

export interface LeaderEvents {
  acquired: [{ instanceId: string }];
  lost: [{ instanceId: string; reason: string }];
  renewed: [{ validUntil: number }];
  /** Whether the last lock operation got an answer from a quorum (false: Redis unreachable). */
  reachability: [{ reachable: boolean }];
}

export class LeaderElector extends EventEmitter<LeaderEvents> {
  private readonly clients: Redis[];
  private readonly redlock: Redlock;
  private reachableNow = false;
  private readonly throttledWarn: ThrottledWarn;

  constructor(private readonly options: LeaderOptions) {
    super();
    this.throttledWarn = throttledWarn(options.logger);
    if (options.commandTimeoutMs * 2 >= options.ttlMs * options.renewAtFraction) {
      throw new OutboxError(
        'CONFIG_INVALID',
        `redis.commandTimeoutMs (${options.commandTimeoutMs} ms) must be less than half of the renewal margin relay.lockTtlMs × relay.renewAtFraction (${options.ttlMs * options.renewAtFraction} ms), or a slow Redis could let the lock expire while the leader still works. Lower the timeout or raise the TTL.`,
        { context: { commandTimeoutMs: options.commandTimeoutMs, lockTtlMs: options.ttlMs } },
      );
    }
    this.clients = options.redisUrls.map((url) => {
      const client = new Redis(url, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: options.commandTimeoutMs,
        connectTimeout: Math.max(options.commandTimeoutMs, 1_000),
        retryStrategy: (times) => Math.min(times * 100, 1_000),
        enableReadyCheck: true,
      });
      client.on('error', (err: Error) => this.logThrottled('Redis connection error', err));
      return client;
    });
    this.redlock = new Redlock(this.clients, { retryCount: 0, driftFactor: 0.01 });
    this.redlock.on('error', () => undefined);
  }

  /** Whether the last lock operation reached a quorum of Redis nodes. */
  get reachable(): boolean {
    return this.reachableNow;
  }

  /**
   * Until `stop` aborts: waits for the lock, runs `work` while it is held, and starts over when the
   * term ends. `work` must return soon after `lease.signal` aborts; the lock is then released.
   */
  async run(work: (lease: Lease) => Promise<void>, stop: AbortSignal): Promise<void> {
    await this.connected(stop);
    while (!stop.aborted) {
      const lock = await this.tryAcquire();
      if (!lock) {
        await sleep(this.options.acquireIntervalMs, stop);
        continue;
      }
      const term = new Term(this, lock.lock, lock.validUntil);
      this.emit('acquired', { instanceId: this.options.instanceId });
      this.options.logger.info({ ttlMs: this.options.ttlMs }, 'leader lock acquired');
      try {
        await work(term.lease);
      } catch (err) {
        term.end(`work failed: ${describeError(err)}`);
        this.options.logger.error({ err: describeError(err) }, 'leader work failed; giving up the lock');
      }
      const reason = term.end('stopped');
      await term.release();
      this.emit('lost', { instanceId: this.options.instanceId, reason });
      this.options.logger.info({ reason }, 'leadership ended');
      // A term that ended by itself (not by stop) waits one interval, so a fenced or failing leader
      // does not grab the lock straight back from a healthy standby.
      if (!stop.aborted) await sleep(this.options.acquireIntervalMs, stop);
    }
  }

  /** Waits (briefly) for a quorum of connections, so the first attempt does not fail for nothing. */
  private async connected(stop: AbortSignal): Promise<void> {
    const deadline = Date.now() + Math.max(this.options.commandTimeoutMs, 1_000);
    while (!stop.aborted && Date.now() < deadline && this.clients.filter((c) => c.status === 'ready').length <= this.clients.length / 2) {
      await sleep(20, stop);
    }
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.disconnect();
  }

  private async tryAcquire(): Promise<{ lock: Lock; validUntil: number } | undefined> {
    const start = Date.now();
    try {
      const lock = await this.redlock.acquire([this.options.lockKey], this.options.ttlMs, { retryCount: 0 });
      this.setReachable(true);
      return { lock, validUntil: start + this.options.ttlMs - drift(this.options.ttlMs) };
    } catch (err) {
      // Held by someone else (a quorum answered "no") or Redis unreachable: tell them apart for /readyz.
      this.setReachable(this.clients.filter((c) => c.status === 'ready').length > this.clients.length / 2);
      if (!this.reachableNow) this.logThrottled('cannot reach a quorum of Redis nodes for the leader lock', err);
      return undefined;
    }
  }

  /** @internal used by Term */
  async extend(lock: Lock): Promise<{ lock: Lock; validUntil: number }> {
    const start = Date.now();
    try {
      const next = await this.redlock.extend(lock, this.options.ttlMs, { retryCount: 0 });
      this.setReachable(true);
      return { lock: next, validUntil: start + this.options.ttlMs - drift(this.options.ttlMs) };
    } catch (err) {
      this.setReachable(this.clients.filter((c) => c.status === 'ready').length > this.clients.length / 2);
      throw err;
    }
  }

  /** The Redis key of the lock (for logs: it names the prefix and source that make it). */
  get lockKey(): string {
    return this.options.lockKey;
  }

  /** @internal used by Term */
  get settings(): LeaderOptions {
    return this.options;
  }

  private setReachable(reachable: boolean): void {
    if (reachable !== this.reachableNow) {
      this.reachableNow = reachable;
      this.emit('reachability', { reachable });
    }
  }

  private logThrottled(message: string, err: unknown): void {
    this.throttledWarn({ err: describeError(err) }, message);
  }
}

function drift(ttlMs: number): number {
  return Math.round(ttlMs * 0.01) + 2;
}

/** One held lock: renews it, and aborts the lease on the first failure or a missed deadline. */
class Term {
  private readonly controller = new AbortController();
  private endReason: string | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  readonly lease: Lease;

  constructor(
    private readonly elector: LeaderElector,
    private lock: Lock,
    private validUntil: number,
  ) {
    this.lease = {
      signal: this.controller.signal,
      validUntil: () => (this.endReason === undefined ? this.validUntil : 0),
      abandon: (reason) => void this.end(reason),
    };
    this.schedule();
  }

  /** Ends the term (idempotent) and returns the first reason given. */
  end(reason: string): string {
    if (this.endReason === undefined) {
      this.endReason = reason;
      clearTimeout(this.renewTimer);
      clearTimeout(this.deadlineTimer);
      this.controller.abort(new Error(reason));
    }
    return this.endReason;
  }

  /** Releases the lock so a standby takes over at once; harmless when it already expired. */
  async release(): Promise<void> {
    const timeout = this.elector.settings.commandTimeoutMs;
    await Promise.race([this.lock.release().catch(() => undefined), sleep(timeout, undefined, { ref: false })]);
  }

  private schedule(): void {
    const { ttlMs, renewAtFraction } = this.elector.settings;
    const renewIn = Math.max(0, this.validUntil - ttlMs * renewAtFraction - Date.now());
    this.renewTimer = setTimeout(() => void this.renew(), renewIn);
    // Fires only when no renewal succeeded in time, e.g. the process was paused (SIGSTOP) or Redis hangs.
    this.deadlineTimer = setTimeout(() => this.end('lock expired before it was renewed'), Math.max(0, this.validUntil - Date.now()));
  }

  private async renew(): Promise<void> {
    if (this.endReason !== undefined) return;
    if (Date.now() >= this.validUntil) {
      this.end('lock expired before it was renewed');
      return;
    }
    try {
      const next = await this.elector.extend(this.lock);
      if (this.endReason !== undefined) return;
      if (Date.now() >= this.validUntil) {
        this.end('lock renewal answered after the lock expired');
        return;
      }
      clearTimeout(this.deadlineTimer);
      this.lock = next.lock;
      this.validUntil = next.validUntil;
      this.elector.emit('renewed', { validUntil: next.validUntil });
      this.schedule();
    } catch (err) {
      this.end(`lock renewal failed: ${describeError(err)}`);
    }
  }
}
