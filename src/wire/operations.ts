/** Operations a captured row event can carry, in the order the config lists them by default. */
export const CHANGE_OPERATIONS = ['insert', 'update', 'delete', 'truncate', 'snapshot'] as const;
export type ChangeOperation = (typeof CHANGE_OPERATIONS)[number];

/**
 * The operation of a schema-change event (docs/schema-changes.md). It is not one of a target's
 * `operations`: every built filter policy lets it through, like a truncate on its own `$or` branch,
 * and the target's `schemaChanges` setting decides what it does (apply, ignore or stop).
 */
export const SCHEMA_OPERATION = 'schema';

/** Every `data.op` on the wire: the row operations and `schema`. */
export type WireOperation = ChangeOperation | typeof SCHEMA_OPERATION;

/**
 * Operations of events about a whole table, which carry no row attribute values (a truncate): a
 * target filtered by `where` must receive them all the same, so the built policy lets them through
 * on their own `$or` branch. Add any new table-wide operation here.
 */
export const TABLE_OPERATIONS: readonly ChangeOperation[] = ['truncate'];
