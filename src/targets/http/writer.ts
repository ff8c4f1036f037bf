import type { TargetConfig } from '../../config/index.js';
import { OutboxError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ApplyOutcome, TargetChange, TargetWriter } from '../types.js';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER, webhookBody } from './body.js';
import { outcomeOfStatus } from './errors.js';

/**
 * HTTP webhook target: one POST per change, in batch order, body = the transformed change as JSON,
 * signed and with an idempotency key (body.ts).
 * There is no version store: delivery is at-least-once and unordered, so the receiver deduplicates by
 * Idempotency-Key and, for per-key ordering, keeps the highest `seq` per key (see docs/targets.md).
 * 2xx → applied; 4xx → rejected (to the DLQ) except 408 and 429; 3xx, 5xx, 408, 429, timeouts and
 * connection errors throw (retryable): the messages come back and are sent again.
 */
export interface HttpWriterOptions {
  name: string;
  target: TargetConfig;
  url: string;
  secret?: string;
  logger: Logger;
}

export class HttpTargetWriter implements TargetWriter {
  readonly kind = 'http' as const;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly extraHeaders: Record<string, string>;

  constructor(private readonly options: HttpWriterOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OutboxError('CONFIG_INVALID', `Target "${options.name}": the URL in ${options.target.urlEnv} must start with http:// or https://.`, { context: { target: options.name } });
    }
    this.log = options.logger.child({ component: 'target', target: options.name, kind: 'http' });
    this.timeoutMs = options.target.http?.timeoutMs ?? 5_000;
    this.extraHeaders = options.target.http?.headers ?? {};
  }

  /** Nothing to create; checks that the endpoint answers at all (any HTTP status counts). */
  async init(): Promise<string[]> {
    try {
      await this.send('HEAD', undefined, {});
      return [];
    } catch (err) {
      return [`endpoint of target "${this.options.name}" (${this.options.target.urlEnv}) is not reachable: ${describeError(err)}`];
    }
  }

  async apply(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = [];
    // schemaChanges apply forwards a schema change like any change; ignore acknowledges it unsent (stop is refused by the config).
    for (const change of changes) outcomes.push(change.op === 'schema' && this.options.target.schemaChanges === 'ignore' ? { status: 'applied' } : await this.post(change));
    return outcomes;
  }

  async close(): Promise<void> {}

  private async post(change: TargetChange): Promise<ApplyOutcome> {
    const body = webhookBody(change);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [IDEMPOTENCY_HEADER]: change.eventId,
      [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000)),
    };
    if (this.options.secret) headers[SIGNATURE_HEADER] = signBody(body, this.options.secret);
    let status: number;
    try {
      status = await this.send('POST', body, headers);
    } catch (err) {
      throw new OutboxError('TARGET_UNAVAILABLE', `Target "${this.options.name}": ${describeError(err)}; the batch will be retried.`, { cause: err, retryable: true, context: { target: this.options.name } });
    }
    const outcome = outcomeOfStatus(this.options.name, status);
    if (outcome.status === 'rejected') this.log.warn({ status, table: change.table, seq: change.seq }, 'endpoint refused the change');
    return outcome;
  }

  /** One request with a timeout that also covers reading the body; returns the status. */
  private async send(method: string, body: string | undefined, headers: Record<string, string>): Promise<number> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const response = await fetch(this.options.url, { method, body, headers: { ...this.extraHeaders, ...headers }, signal: controller.signal, redirect: 'manual' });
      await response.arrayBuffer();
      return response.status;
    } catch (err) {
      if (controller.signal.aborted) throw new Error(`no answer within ${this.timeoutMs} ms`, { cause: err });
      throw new Error(`request failed: ${describeError((err as { cause?: unknown }).cause ?? err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}
