import { describe, expect, it } from 'vitest';
import { buildEnvelope, validateEnvelope } from '../../src/wire/envelope.js';
import { eventTriggerNames, eventTriggerReport, type EventTriggerRow } from '../../src/source/postgres/event-triggers.js';
import { recordedSchemaEvent, type EventRow } from '../../src/source/postgres/relay-events.js';

const row = (after: Record<string, unknown> | null): EventRow => ({
  seq: '42',
  xid: '900',
  table_schema: 'public',
  table_name: 'orders_renamed',
  op: 'schema',
  key: null,
  before: null,
  after,
  changed: null,
  attributes: null,
  changed_at: new Date('2026-01-02T03:04:05Z'),
});

describe('recordedSchemaEvent (a dropped table recorded by the sql_drop event trigger)', () => {
  it('is a drop_table schema change under the name the stream knows, with the shape published last, that validates as an envelope', () => {
    const before = [{ name: 'id', type: 'integer', nullable: false }];
    const event = recordedSchemaEvent(row({ changes: [{ kind: 'drop_table' }] }), { tableSchema: 'public', tableName: 'orders' }, before);
    expect(event).toMatchObject({ seq: '42', op: 'schema', tableSchema: 'public', tableName: 'orders', key: null, after: null });
    expect(event.schemaChange).toEqual({ dialect: 'postgres', before, after: null, key: [], changes: [{ kind: 'drop_table' }] });
    const envelope = buildEnvelope('pg', event);
    expect(envelope.id).toBe('pg:42:schema');
    expect(validateEnvelope(envelope)).toEqual([]);
  });

  it('keeps only the kinds capture records, and nothing else of the stored row', () => {
    const event = recordedSchemaEvent(row({ changes: [{ kind: 'drop_table', column: 'x' }, { kind: 'add_column' }, { kind: 7 }, 'junk'] as never }), { tableSchema: 'public', tableName: 'orders' }, null);
    expect(event.schemaChange!.changes).toEqual([{ kind: 'drop_table' }]);
    expect(event.schemaChange!.before).toBeNull();
    expect(recordedSchemaEvent(row(null), { tableSchema: 'public', tableName: 'orders' }, null).schemaChange!.changes).toEqual([]);
  });
});

describe('DDL event trigger names and doctor report', () => {
  it('names are per outbox schema, valid identifiers, within 63 bytes', () => {
    const a = eventTriggerNames('outbox');
    const b = eventTriggerNames('Outbox');
    const long = eventTriggerNames('x'.repeat(63));
    expect(a.end).not.toBe(b.end);
    expect(a.end).toMatch(/^outbox_relay_[0-9a-f]{12}_ddl_end$/);
    expect(a.drop).toMatch(/^outbox_relay_[0-9a-f]{12}_sql_drop$/);
    expect(Buffer.byteLength(long.drop)).toBeLessThanOrEqual(63);
  });

  const t = (function_name: string, enabled = true): EventTriggerRow => ({ name: `n_${function_name}`, event: function_name === 'ddl_sql_drop' ? 'sql_drop' : 'ddl_command_end', enabled, function_name, tags: function_name === 'ddl_sql_drop' ? null : ['ALTER TABLE', 'CREATE TABLE'] });
  it('a note either way; a warning only when one is disabled or missing', () => {
    expect(eventTriggerReport([t('ddl_command_end'), t('ddl_sql_drop')], 'outbox')).toEqual({ note: expect.stringContaining('are installed (n_ddl_command_end, n_ddl_sql_drop)') });
    expect(eventTriggerReport([], 'outbox')).toEqual({ note: expect.stringContaining('are not installed') });
    const disabled = eventTriggerReport([t('ddl_command_end'), t('ddl_sql_drop', false)], 'outbox');
    expect(disabled.warning).toEqual({ severity: 'warning', check: 'event-triggers', message: expect.stringContaining('for ddl_sql_drop missing or disabled') });
    expect(eventTriggerReport([t('ddl_sql_drop')], 'outbox').warning?.message).toContain('for ddl_command_end missing or disabled');
  });

  it('under source.eventTriggers: skip, none is fine (skipped by setting) and installed ones are a warning', () => {
    expect(eventTriggerReport([], 'outbox', 'skip')).toEqual({ note: expect.stringContaining('not installed: skipped by setting (source.eventTriggers: skip)') });
    const left = eventTriggerReport([t('ddl_command_end'), t('ddl_sql_drop')], 'outbox', 'skip');
    expect(left.warning).toEqual({ severity: 'warning', check: 'event-triggers', message: expect.stringContaining('although source.eventTriggers is skip') });
  });
});
