import { createHmac } from 'node:crypto';
import type { TargetConfig } from '../config/index.js';
import { OutboxError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApplyOutcome, TargetChange, TargetSchemaItem, TargetWriter } from './types.js';

/**
 * HTTP webhook target: one POST per change, in batch order, body = the transformed change as JSON.
 *   X-Outbox-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>
 *   Idempotency-Key:    <event id>   (the same change always carries the same key)
 *   X-Outbox-Timestamp: <unix seconds when sent>
 * There is no version store: delivery is at-least-once and unordered, so the receiver deduplicates by
 * Idempotency-Key and, for per-key ordering, keeps the highest `seq` per key (see docs/targets.md).
 * 2xx → applied; 4xx → rejected (to the DLQ) except 408 and 429; 3xx, 5xx, 408, 429, timeouts and
 * connection errors throw (retryable): the messages come back and are sent again.
 */
export const SIGNATURE_HEADER = 'x-outbox-signature';
export const TIMESTAMP_HEADER = 'x-outbox-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export interface HttpWriterOptions {
  name: string;
  target: TargetConfig;
  url: string;
  secret?: string;
  logger: Logger;
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The JSON the endpoint receives: the change without the SQS message id. */
export function webhookBody(change: TargetChange): string {
  const schemaChange = change.schemaChange ? { schemaChange: { dialect: change.schemaChange.dialect, changes: change.schemaChange.items.map(webhookItem) } } : {};
  return JSON.stringify({ eventId: change.eventId, sourceTable: change.sourceTable, table: change.table, op: change.op, seq: change.seq, time: change.time, key: change.key, row: change.row, ...schemaChange });
}

/**
 * A schema change as the endpoint receives it (op "schema", docs/targets.md): columns in the target's
 * names, types as the source spells them with `as` when the mapping writes other values (text for a
 * hashed column); what a database target could not follow (a renamed table) as the source item.
 */
function webhookItem(item: TargetSchemaItem): Record<string, unknown> {
  switch (item.kind) {
    case 'add_column':
      return { kind: item.kind, column: item.column, type: item.type.type, ...(item.type.output ? { as: item.type.output } : {}), nullable: item.nullable };
    case 'alter_type':
      return { kind: item.kind, column: item.column, from: item.from.type, to: item.to.type };
    case 'refuse':
      return { ...item.change };
    default:
      return { ...item };
  }
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
    if (status >= 200 && status < 300) return { status: 'applied' };
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      this.log.warn({ status, table: change.table, seq: change.seq }, 'endpoint refused the change');
      return { status: 'rejected', reason: `HTTP ${status} from the endpoint of target "${this.options.name}"` };
    }
    throw new OutboxError('TARGET_UNAVAILABLE', `Target "${this.options.name}": the endpoint answered HTTP ${status}; the batch will be retried.`, { retryable: true, context: { target: this.options.name, status } });
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
