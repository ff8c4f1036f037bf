import { PublishBatchCommand, type SNSClient } from '@aws-sdk/client-sns';
import { buildEnvelope, eventId, SCHEMA_EVENT_TYPE, validateEnvelope, type ChangeEnvelope, type ColumnShape, type OutboxEvent, type SchemaChange, type SchemaChangeItem } from '../../src/wire/envelope.js';
import { baseAttributes, buildMessageAttributes } from '../../src/wire/attributes.js';
import { SOURCE_NAME } from './consumer-fixtures.js';

/**
 * Schema-change messages as the relay publishes them (docs/schema-changes.md): the envelope of the
 * table's events with op schema, the v2 type, id <source>:<seq>:schema and data.schemaChange, checked
 * against schema/change-event.v2.json; attributes source, table and operation only.
 */
export interface WireMessage {
  body: string;
  attributes: ReturnType<typeof baseAttributes>;
}

export function schemaMessage(table: string, seq: number, before: ColumnShape[] | null, after: ColumnShape[] | null, key: string[], changes: SchemaChangeItem[], dialect: SchemaChange['dialect'] = 'postgres'): WireMessage {
  const [schema, name] = table.split('.') as [string, string];
  const base = buildEnvelope(SOURCE_NAME, { seq: String(seq), xid: '1', tableSchema: schema, tableName: name, op: 'truncate', key: null, before: null, after: null, changed: null, attributes: null, changedAt: new Date() });
  const envelope: ChangeEnvelope = {
    ...base,
    id: eventId(SOURCE_NAME, String(seq), 'schema'),
    type: SCHEMA_EVENT_TYPE,
    data: { ...base.data!, op: 'schema', key: null, before: null, after: null, changed: null, schemaChange: { dialect, before, after, key, changes } },
  };
  const problems = validateEnvelope(envelope);
  if (problems.length > 0) throw new Error(`test schema-change envelope is invalid: ${problems.join('; ')}`);
  return { body: JSON.stringify(envelope), attributes: baseAttributes(SOURCE_NAME, table, 'schema', null) };
}

export function rowMessage(event: OutboxEvent): WireMessage {
  return { body: JSON.stringify(buildEnvelope(SOURCE_NAME, event)), attributes: buildMessageAttributes(SOURCE_NAME, event).attributes };
}

export async function publishMessages(sns: SNSClient, topicArn: string, messages: WireMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    const reply = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: chunk.map((m, j) => ({ Id: String(j), Message: m.body, MessageAttributes: m.attributes })) }));
    if (reply.Failed?.length) throw new Error(`PublishBatch failed for ${reply.Failed.length} entries`);
  }
}

/** Fisher–Yates with a seeded generator, so a failing order can be replayed from the seed in the test name. */
export function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed >>> 0 || 1;
  const next = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
