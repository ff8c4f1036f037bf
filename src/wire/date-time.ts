import { fullFormats } from 'ajv-formats/dist/formats.js';

/**
 * The envelope's `time` check (JSON Schema format date-time, RFC 3339 with a time zone), as
 * ajv-formats' full check decides it, with the common case first: a UTC instant as the relay writes
 * it (`Date.prototype.toISOString`, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`) is checked character by
 * character, without the full check's splits and regular expressions. It accepts only what the full
 * check accepts (a real calendar date, hours ≤ 23, minutes and seconds ≤ 59); every other string —
 * an offset, a lower-case separator, a leap second, anything malformed — goes to the full check, so
 * the result is the full check's for every string (test/unit/date-time.unit.test.ts).
 */
const fullDateTime = (fullFormats['date-time'] as { validate: (value: string) => boolean }).validate;

export function isDateTime(value: string): boolean {
  return isUtcInstant(value) || fullDateTime(value);
}

const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Positions of the digits in YYYY-MM-DDTHH:MM:SS. */
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

function isUtcInstant(s: string): boolean {
  const n = s.length;
  // YYYY-MM-DDTHH:MM:SS, then Z or .<digits>Z
  if (n < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(n - 1) !== 90) return false;
  for (const i of DIGITS) if (!isDigit(s.charCodeAt(i))) return false;
  if (n > 20) {
    if (n < 22 || s.charCodeAt(19) !== 46) return false;
    for (let i = 20; i < n - 1; i++) if (!isDigit(s.charCodeAt(i))) return false;
  }
  const year = num(s, 0) * 100 + num(s, 2);
  const month = num(s, 5);
  const day = num(s, 8);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && leap ? 29 : DAYS[month]!) && num(s, 11) <= 23 && num(s, 14) <= 59 && num(s, 17) <= 59;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The two-digit number at i (digits already checked). */
function num(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);
}
