import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config/index.js';
import type { ChangeEnvelope } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import type { QuarantineSink } from '../types.js';
import { MAX_MESSAGE_BYTES } from '../../wire/limits.js';
import type { PublisherMetrics } from './metrics.js';
import { withBody, type PreparedMessage } from './prepare.js';

export type OversizedResult = { kind: 'claim-checked'; message: PreparedMessage } | { kind: 'quarantined' };

export interface OversizedDeps {
  claimCheck: Config['publish']['claimCheck'];
  s3: S3Client | undefined;
  quarantine: QuarantineSink;
  metrics: PublisherMetrics;
  logger: Logger;
}

/** The S3 object key of an event's full envelope. */
export function claimCheckKey(prefix: string, eventId: string): string {
  return `${prefix}${eventId}`;
}

/** The envelope published in place of an oversized one: everything but data, plus where data is. */
export function claimCheckEnvelope(envelope: ChangeEnvelope, location: string): ChangeEnvelope {
  const { data: _data, ...rest } = envelope;
  return { ...rest, claimcheck: location };
}

/**
 * An event too large for SNS: with publish.claimCheck, the full envelope goes to S3 and a small
 * envelope with the same routing attributes is published; without it (or if even the small one is
 * too large) the event goes to the quarantine sink, with an error log and a metric. Either way it is
 * accounted for: never dropped silently, never stalling the stream. Throws if S3 or the sink fails
 * (then the event is not acknowledged and will be retried).
 */
export async function handleOversized(message: PreparedMessage, deps: OversizedDeps, signal?: AbortSignal): Promise<OversizedResult> {
  const where = { table: `${message.event.tableSchema}.${message.event.tableName}`, seq: message.event.seq, sizeBytes: message.bytes, topic: message.topic.key };
  let reason = `event of ${message.bytes} bytes (body and message attributes) exceeds the SNS limit of ${MAX_MESSAGE_BYTES} bytes and publish.claimCheck is not configured`;
  if (deps.claimCheck && deps.s3) {
    const key = claimCheckKey(deps.claimCheck.prefix, message.envelope.id);
    await deps.s3.send(new PutObjectCommand({ Bucket: deps.claimCheck.bucket, Key: key, Body: message.body, ContentType: 'application/cloudevents+json' }), signal ? { abortSignal: signal } : {});
    const small = withBody(message, claimCheckEnvelope(message.envelope, `s3://${deps.claimCheck.bucket}/${key}`));
    if (small.bytes <= MAX_MESSAGE_BYTES) {
      deps.metrics.claimChecked.inc({ topic: message.topic.key });
      deps.logger.info({ ...where, bucket: deps.claimCheck.bucket, s3Key: key }, 'oversized event stored in S3; publishing a claim-check envelope');
      return { kind: 'claim-checked', message: small };
    }
    reason = `event of ${message.bytes} bytes exceeds the SNS limit, and even its claim-check envelope (${small.bytes} bytes) does: its message attributes are too large`;
  }
  await deps.quarantine(message.event, message.body, reason);
  deps.metrics.quarantined.inc({ table: where.table, reason: 'too-large' });
  deps.logger.error(
    { ...where, reason },
    'event quarantined: too large to publish. Configure publish.claimCheck (an S3 bucket) and re-publish it from the quarantine, or fix the row at the source',
  );
  return { kind: 'quarantined' };
}
