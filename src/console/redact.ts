import type { Config } from '../config/index.js';
import type { DeadLetterRecord } from '../consumer/index.js';

/**
 * What of a dead letter reaches the page: why it is there (code, reason), which change it holds
 * (table, operation, seq, key, time) and its message id. Never the body (before/after images are row
 * data) and never the message attributes (attribute columns such as tenant_id are row values). The
 * key is shown: it is what an operator needs to find the row, the same identifier `outbox verify`
 * prints; a table whose key columns are themselves sensitive should be keyed by a surrogate.
 */
export interface DeadLetterView {
  messageId: string;
  code: string | null;
  reason: string;
  table: string | null;
  op: string | null;
  seq: string | null;
  key: unknown;
  /** When the change happened at the source, else when the message was first sent. */
  time: string | null;
}

/** Longest reason shown; the full one is in `outbox dlq`. */
export const MAX_REASON_CHARS = 300;

/**
 * A reason for the page: quoted literals masked (database errors quote the offending value, e.g.
 * MariaDB's "Incorrect integer value: 'abc' for column"), cut to MAX_REASON_CHARS.
 */
export function maskReason(reason: string): string {
  const masked = reason
    .replace(/'(?:[^'\\]|\\.|'')*'/g, "'…'")
    .replace(/"(?:[^"\\]|\\.)*"/g, (quoted) => (/^"[A-Za-z_][A-Za-z0-9_.$]*"$/.test(quoted) ? quoted : '"…"'))
    .replace(/\b(Failing row contains|DETAIL:)\s.*$/gim, '$1 …');
  return masked.length > MAX_REASON_CHARS ? `${masked.slice(0, MAX_REASON_CHARS)}…` : masked;
}

export function deadLetterView(record: DeadLetterRecord): DeadLetterView {
  const event = record.event;
  return {
    messageId: record.messageId,
    code: record.code,
    reason: maskReason(record.reason ?? (record.movedBy === 'sqs' ? 'moved by SQS after maxReceiveCount failed receives; the consumer logs have the error' : '')),
    table: event?.table ?? null,
    op: event?.op ?? null,
    seq: event?.seq ?? null,
    key: event?.key ?? null,
    time: event?.time ?? record.sentAt,
  };
}

/**
 * The secret values this process knows: the source URL and its password, each target's URL and
 * secrets, the AWS credentials and the console token. Targets whose variables are not set here are
 * skipped (the console does not reach them either).
 */
export function knownSecrets(config: Config, ambient: readonly string[]): string[] {
  const values = new Set<string>(ambient);
  const addUrl = (url: string) => {
    if (!url) return;
    values.add(url);
    try {
      const parsed = new URL(url);
      if (parsed.password) values.add(decodeURIComponent(parsed.password));
    } catch {
      // not a URL: the whole value is enough
    }
  };
  addUrl(config.source.url);
  for (const name of Object.keys(config.targets)) {
    try {
      const secrets = config.targetSecrets(name);
      addUrl(secrets.url);
      if (secrets.httpSecret) values.add(secrets.httpSecret);
      if (secrets.hashSalt) values.add(secrets.hashSalt);
      if (secrets.encryptionKey) values.add(secrets.encryptionKey.toString('base64'));
    } catch {
      // not configured in this environment
    }
  }
  // short values (a password "pw") would mask ordinary words; they are covered by the URL rule below
  return [...values].filter((v) => v.length >= 6);
}

/**
 * A JSON payload with every known secret replaced and credentials in URLs masked. Runs on the
 * serialized text, so a secret that slipped into an error message is caught wherever it sits.
 */
export function redactPayload(json: string, secrets: readonly string[]): string {
  let out = json;
  for (const secret of secrets) {
    const encoded = JSON.stringify(secret).slice(1, -1);
    out = out.split(encoded).join('[redacted]');
  }
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s"/:@]*):[^\s"/@]*@/gi, '$1:***@');
}
