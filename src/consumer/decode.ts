import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { validateEnvelope, type ChangeData, type ChangeEnvelope } from '../wire/envelope.js';
import { OutboxError } from '../errors.js';
import type { DeadLetterCode } from './dead-letter.js';

/**
 * A message body turned into a change event: parsed, checked against the versioned JSON Schema, and
 * for a claim-check envelope the full event fetched from S3. Bad input is reported as poison (it
 * goes to the DLQ); an S3 outage throws (the message is left alone and comes back later).
 */
export type FullEnvelope = ChangeEnvelope & { data: ChangeData };

export type Decoded = { ok: true; envelope: FullEnvelope } | { ok: false; code: DeadLetterCode; reason: string };

export type ClaimCheckFetcher = (location: string, signal?: AbortSignal) => Promise<string | undefined>;

/**
 * Synchronous for an envelope that carries its data (every message but a claim-check one), so a batch
 * is decoded without a promise per message; a claim-check envelope gives a promise, which rejects
 * when S3 cannot be asked.
 */
export function decodeMessage(body: string | undefined, fetchClaimCheck: ClaimCheckFetcher | undefined, signal?: AbortSignal): Decoded | Promise<Decoded> {
  const parsed = parseEnvelope(body ?? '');
  if (!parsed.ok || parsed.envelope.data) return parsed;
  return fetchFullEnvelope(parsed.envelope, fetchClaimCheck, signal);
}

async function fetchFullEnvelope(envelope: ChangeEnvelope, fetchClaimCheck: ClaimCheckFetcher | undefined, signal?: AbortSignal): Promise<Decoded> {
  const location = envelope.claimcheck ?? '';
  if (!fetchClaimCheck) {
    throw new OutboxError('TARGET_UNAVAILABLE', `Message ${envelope.id} is a claim-check envelope (${location}) but this consumer has no S3 client.`, { retryable: true });
  }
  const full = await fetchClaimCheck(location, signal);
  if (full === undefined) return { ok: false, code: 'CLAIMCHECK_MISSING', reason: `claim-check object ${location} does not exist (expired, or deleted before delivery)` };
  const fetched = parseEnvelope(full);
  if (!fetched.ok) return { ok: false, code: 'CLAIMCHECK_MISSING', reason: `claim-check object ${location} is not a change event: ${fetched.reason}` };
  if (!fetched.envelope.data || fetched.envelope.id !== envelope.id) {
    return { ok: false, code: 'CLAIMCHECK_MISSING', reason: `claim-check object ${location} does not hold the data of event ${envelope.id}` };
  }
  return fetched;
}

function parseEnvelope(body: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, code: 'UNPARSEABLE', reason: `body is not JSON (${(err as Error).message.slice(0, 200)})` };
  }
  const problems = validateEnvelope(value);
  if (problems.length > 0) return { ok: false, code: 'SCHEMA_INVALID', reason: `not a change event (schema/change-event.v2.json): ${problems.slice(0, 5).join('; ')}` };
  return { ok: true, envelope: value as FullEnvelope };
}

/** Reads `s3://bucket/key`; undefined when the object does not exist, throws when S3 cannot be asked. */
export function s3ClaimCheckFetcher(s3: S3Client): ClaimCheckFetcher {
  return async (location, signal) => {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
    if (!match) return undefined;
    try {
      const reply = await s3.send(new GetObjectCommand({ Bucket: match[1], Key: match[2] }), signal ? { abortSignal: signal } : {});
      return await reply.Body?.transformToString('utf8');
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') return undefined;
      throw new OutboxError('TARGET_UNAVAILABLE', `Could not read claim-check object ${location}: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  };
}
