import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option values. They throw commander's InvalidArgumentError, so a bad value is bad
 * usage (exit 2) with a message that names the option and what it takes.
 */
export function wholeNumber(option: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${option} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)}).`);
    return n;
  };
}

export function decimalNumber(option: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${option} must be a number from ${min} to ${max} (got ${JSON.stringify(value)}).`);
    return n;
  };
}

export function portNumber(option: string): (value: string) => number {
  return wholeNumber(option, 0, 65535);
}

export function hostName(option: string): (value: string) => string {
  return (value) => {
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) throw new InvalidArgumentError(`${option} must be a host name or an IP address, such as 127.0.0.1 or 0.0.0.0 (got ${JSON.stringify(value)}).`);
    return value;
  };
}

/** An instant, not a wall-clock time in some zone: the zone (Z or ±hh:mm) is required unless it is a bare date (UTC midnight). */
export function isoInstant(option: string): (value: string) => Date {
  return (value) => {
    const date = new Date(value);
    if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}(?:$|T.*(?:Z|[+-]\d{2}:?\d{2})$)/i.test(value)) {
      throw new InvalidArgumentError(`${option} must be an ISO 8601 instant with a zone, such as 2024-05-01T12:00:00Z (got ${JSON.stringify(value)}).`);
    }
    return date;
  };
}

export function sequenceNumber(option: string): (value: string) => string {
  return (value) => {
    if (!/^\d{1,19}$/.test(value)) throw new InvalidArgumentError(`${option} must be a whole number (got ${JSON.stringify(value)}).`);
    return BigInt(value).toString();
  };
}

export function oneOf<T extends string>(option: string, allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`${option} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)}).`);
    return value as T;
  };
}
