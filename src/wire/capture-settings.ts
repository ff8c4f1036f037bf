/**
 * The PostgreSQL session settings row values are rendered in (docs/encoding.md, "Time zones and
 * session settings"): the relay's decode session, a backfill or repair snapshot and verify all use
 * these, so a snapshot image is byte-identical to what the relay publishes for a trigger row, and
 * verify compares values in the form a consumer received them. The names and values are constants
 * (never from config): they are written into SQL and connection options as they are.
 */
export const CAPTURE_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO',
  IntervalStyle: 'iso_8601',
  bytea_output: 'hex',
  extra_float_digits: '1',
};

/**
 * The settings as SET statements: `transaction` (SET LOCAL) for a snapshot inside a transaction,
 * `session` for a connection that keeps them.
 */
export function captureSettingsSql(scope: 'transaction' | 'session'): string {
  const set = scope === 'transaction' ? 'SET LOCAL' : 'SET';
  return Object.entries(CAPTURE_SETTINGS)
    .map(([name, value]) => `${set} ${name} = '${value}'`)
    .join('; ');
}

/**
 * The settings as a connection's startup `options` (`-c name=value …`), with extra settings after
 * them (the decode session adds its search_path).
 */
export function captureSettingsOptions(extra: Readonly<Record<string, string>> = {}): string {
  return Object.entries({ ...CAPTURE_SETTINGS, ...extra })
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}
