import { fullFormats } from 'ajv-formats/dist/formats.js';
import { describe, expect, it } from 'vitest';
import { isDateTime } from '../../src/wire/date-time.js';
import { validateEnvelope } from '../../src/wire/envelope.js';

const full = (fullFormats['date-time'] as { validate: (value: string) => boolean }).validate;

/** Strings around every rule of RFC 3339 date-time, and what Date.prototype.toISOString writes. */
const samples = [
  '2026-12-04T01:02:03.456Z',
  '2026-12-04T01:02:03Z',
  '2026-12-04T01:02:03.4Z',
  '2026-12-04T01:02:03.123456789Z',
  '2026-12-04T01:02:03.Z',
  '2026-12-04T01:02:03.45',
  '2026-12-04T01:02:03',
  '2026-12-04t01:02:03z',
  '2026-12-04 01:02:03Z',
  '2026-12-04T01:02:03+01:00',
  '2026-12-04T01:02:03.5-0530',
  '2026-12-04T01:02:03+24:00',
  '2024-02-29T00:00:00Z',
  '2023-02-29T00:00:00Z',
  '2000-02-29T00:00:00Z',
  '1900-02-29T00:00:00Z',
  '2026-04-31T00:00:00Z',
  '2026-04-30T00:00:00Z',
  '2026-00-10T00:00:00Z',
  '2026-13-10T00:00:00Z',
  '2026-12-00T00:00:00Z',
  '2026-12-32T00:00:00Z',
  '2026-12-31T24:00:00Z',
  '2026-12-31T23:60:00Z',
  '2026-12-31T23:59:60Z',
  '2026-12-31T23:59:61Z',
  '2026-12-31T22:59:60Z',
  '2026-12-31T23:59:60.5Z',
  '2026-12-31T23:59:59.999Z',
  '+02026-12-31T23:59:59Z',
  '2026-1-31T23:59:59Z',
  '2026-12-31T23:59:5aZ',
  '2026-12-31X23:59:59Z',
  '2026/12/31T23:59:59Z',
  '2026-12-31T23-59-59Z',
  '２０２６-12-31T23:59:59Z',
  '2026-12-31T23:59:59.٣Z',
  '',
  'Z',
  '2026-12-31T23:59:59ZZ',
  ' 2026-12-31T23:59:59Z',
  '2026-12-31T23:59:59Z ',
];

describe('the envelope time check (date-time)', () => {
  it('decides every string as the full date-time check of ajv-formats does', () => {
    for (const s of samples) expect({ s, valid: isDateTime(s) }).toEqual({ s, valid: full(s) });
  });

  it('decides every instant Date writes, and the same strings with a character changed, as the full check does', () => {
    let t = Date.UTC(1999, 11, 31, 23, 59, 58, 999);
    for (let i = 0; i < 2_000; i++, t += 86_399_937) {
      const s = new Date(t).toISOString();
      expect(isDateTime(s)).toBe(true);
      const at = i % s.length;
      for (const c of ['0', '9', '3', '-', ':', 'T', 'Z', '.', 'x']) {
        const changed = s.slice(0, at) + c + s.slice(at + 1);
        expect({ changed, valid: isDateTime(changed) }).toEqual({ changed, valid: full(changed) });
      }
    }
  });

  it('refuses an envelope whose time is not a date-time, with the reason', () => {
    const envelope = { specversion: '1.0', id: 's:1', source: 'outbox-relay:s', type: 'dev.outbox-relay.change.v1', subject: 'public.t/{"id":1}', time: '2026-02-30T00:00:00Z', datacontenttype: 'application/json', sequence: '1', data: { schema: 'public', table: 't', op: 'insert', seq: '1', key: { id: 1 }, before: null, after: { id: 1 }, changed: null } };
    expect(validateEnvelope(envelope)).toEqual(['/time must match format "date-time"']);
    expect(validateEnvelope({ ...envelope, time: '2026-02-28T00:00:00.000Z' })).toEqual([]);
  });
});
