import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent, quoteLiteral } from '../../sql/identifiers.js';
import type { DoctorFinding } from '../types.js';

/**
 * The optional DDL event triggers of an outbox schema (docs/capture.md, "Event triggers"): created
 * by `outbox migrate` where the role may (a superuser on PostgreSQL 15), skipped with a log line
 * where it may not. Their functions are sql/postgres/000006_ddl_event_triggers.sql.
 */

/** What migrate did about the event triggers. */
export type EventTriggerInstall = 'installed' | 'present' | 'not-permitted' | 'skipped' | 'dropped' | 'drop-not-permitted';

/** The setting source.eventTriggers: install them where the role may (the default), or not at all. */
export type EventTriggerSetting = 'install' | 'skip';

/** Event trigger names are per database: each outbox schema's carry a hash of its name. */
export function eventTriggerNames(schema: string): { end: string; drop: string } {
  const h = createHash('sha256').update(schema).digest('hex').slice(0, 12);
  return { end: `outbox_relay_${h}_ddl_end`, drop: `outbox_relay_${h}_sql_drop` };
}

/**
 * Creates the event triggers unless they exist, inside the caller's transaction, under a savepoint:
 * a role without the right gets 42501, which rolls back to the savepoint and is reported, so the
 * migration itself succeeds.
 */
export async function installEventTriggers(client: pg.ClientBase, schema: string, logger: Logger): Promise<EventTriggerInstall> {
  const q = quoteIdent(schema, 'Outbox schema');
  const before = await readEventTriggers(client, schema);
  // Installed before sql/postgres/000012_tracked_partitions.sql, ddl_command_end fired on ALTER TABLE
  // only; it also records the partitions created under a tracked table now (CREATE TABLE).
  const stale = before.some((r) => r.function_name === 'ddl_command_end' && !(r.tags ?? []).includes('CREATE TABLE'));
  if (before.length === 2 && !stale) return 'present';
  const names = eventTriggerNames(schema);
  await client.query('SAVEPOINT outbox_event_triggers');
  try {
    await client.query(runtimeSql('postgres', 'event_triggers_install', { schema: q, end_trigger: quoteIdent(names.end), drop_trigger: quoteIdent(names.drop) }));
    await client.query('RELEASE SAVEPOINT outbox_event_triggers');
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT outbox_event_triggers');
    if ((err as { code?: string }).code !== '42501') throw err;
    const role = (await client.query<{ role: string }>('SELECT current_user::text AS role')).rows[0]!.role;
    if (before.length === 2) {
      logger.warn(
        { schema, role, trigger: before.find((r) => r.function_name === 'ddl_command_end')?.name },
        'DDL event trigger ddl_command_end not updated: it fires on ALTER TABLE only, and only a superuser may create it again to fire on CREATE TABLE too. Until then a partition created under a tracked table is remembered by the relay when it reads the catalog, not at CREATE TABLE (docs/capture.md, "Partitioned tables"). Run outbox migrate once as a superuser.',
      );
      return 'present';
    }
    logger.warn(
      { schema, role },
      'DDL event triggers not installed: this role may not create event triggers (CREATE EVENT TRIGGER needs a superuser). Capture works without them: no DDL makes a write fail and the relay notices every change; a dropped or renamed key column is quarantined instead of refused. To install them, run outbox migrate once as a superuser.',
    );
    return 'not-permitted';
  }
  logger.info({ schema, triggers: [names.end, names.drop] }, 'DDL event triggers installed: a DROP or RENAME of a key or attribute column of a tracked table is refused, other shape changes are recorded at DDL time, a dropped tracked table is published as drop_table');
  return 'installed';
}

/**
 * source.eventTriggers: skip. Drops installed event triggers inside the caller's transaction, under a
 * savepoint: only their owner may, and a role that may not gets 42501, which is reported (the
 * migration itself succeeds and the triggers keep working).
 */
export async function dropEventTriggers(client: pg.ClientBase, schema: string, logger: Logger): Promise<EventTriggerInstall> {
  const before = await readEventTriggers(client, schema);
  if (before.length === 0) {
    logger.info({ schema }, 'DDL event triggers skipped by setting (source.eventTriggers: skip)');
    return 'skipped';
  }
  await client.query('SAVEPOINT outbox_event_triggers');
  try {
    await client.query(runtimeSql('postgres', 'event_triggers_drop', { schema: quoteIdent(schema, 'Outbox schema') }));
    await client.query('RELEASE SAVEPOINT outbox_event_triggers');
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT outbox_event_triggers');
    if ((err as { code?: string }).code !== '42501') throw err;
    logger.warn({ schema, triggers: before.map((r) => r.name) }, 'DDL event triggers not dropped although source.eventTriggers is skip: only their owner (a superuser) may drop them. Run outbox migrate as a superuser.');
    return 'drop-not-permitted';
  }
  logger.info({ schema, triggers: before.map((r) => r.name) }, 'DDL event triggers dropped (source.eventTriggers: skip)');
  return 'dropped';
}

export interface EventTriggerRow {
  name: string;
  event: string;
  enabled: boolean;
  function_name: string;
  /** The command tags it fires on (WHEN TAG IN …); null for every command. */
  tags: string[] | null;
}

export async function readEventTriggers(db: pg.ClientBase | pg.Pool, schema: string): Promise<EventTriggerRow[]> {
  return (await db.query<EventTriggerRow>(runtimeSql('postgres', 'event_triggers_status', { schema_literal: quoteLiteral(schema) }))).rows;
}

/**
 * How `outbox doctor` describes the event triggers: a note either way (printed as INFO, never a
 * finding: both states are supported), and a warning when one is disabled or missing.
 */
export function eventTriggerReport(rows: EventTriggerRow[], schema: string, setting: EventTriggerSetting = 'install'): { note: string; warning?: DoctorFinding } {
  const enabled = rows.filter((r) => r.enabled);
  if (setting === 'skip') {
    if (rows.length === 0) {
      return {
        note: `DDL event triggers of "${schema}" are not installed: skipped by setting (source.eventTriggers: skip). Capture works without them; schema changes are noticed by the relay from the rows and the catalog, a dropped or renamed key or attribute column is quarantined instead of refused.`,
      };
    }
    const message = `DDL event triggers of "${schema}" are installed (${rows.map((r) => r.name).join(', ')}) although source.eventTriggers is skip. Run outbox migrate as a superuser to drop them, or set source.eventTriggers: install.`;
    return { note: message, warning: { severity: 'warning', check: 'event-triggers', message } };
  }
  if (rows.length === 2 && enabled.length === 2) {
    return {
      note: `DDL event triggers of "${schema}" are installed (${rows.map((r) => r.name).join(', ')}): a DROP or RENAME of a key or attribute column of a tracked table is refused at DDL time, other shape changes are recorded in the outbox at DDL time; a dropped tracked table is published as drop_table.`,
    };
  }
  if (rows.length === 0) {
    return {
      note: `DDL event triggers of "${schema}" are not installed (creating them needs a superuser): capture works without them; a dropped or renamed key or attribute column is quarantined by the relay instead of refused, and a dropped table is reported here. To install them, run outbox migrate as a superuser.`,
    };
  }
  const off = ['ddl_command_end', 'ddl_sql_drop'].filter((f) => !enabled.some((r) => r.function_name === f));
  const message = `DDL event trigger(s) of "${schema}" for ${off.join(', ')} missing or disabled: DDL of tracked tables is handled by the relay alone for those. Enable them (ALTER EVENT TRIGGER … ENABLE) or run outbox migrate as a superuser.`;
  return { note: message, warning: { severity: 'warning', check: 'event-triggers', message } };
}
