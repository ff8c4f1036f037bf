import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { OutboxError } from '../errors.js';

/**
 * Who may see and do what on the console. It binds 127.0.0.1 unless told otherwise; actions
 * (`--allow-actions`) and any address other people can reach need the token in
 * OUTBOX_CONSOLE_TOKEN. Actions always need the token in an `Authorization: Bearer` header on a POST:
 * a page on another site can make a browser send a GET or a form POST with cookies, never that
 * header, so nothing changes through a forged request.
 */
export interface ConsoleAccess {
  host: string;
  allowActions: boolean;
  /** OUTBOX_CONSOLE_TOKEN, when set. */
  token: string | undefined;
}

/** The token's shortest allowed length: long enough that guessing it over HTTP is hopeless. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether an address only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare === '::ffff:127.0.0.1';
}

/**
 * Checks --host, --allow-actions and the token before anything listens; a USAGE_INVALID error
 * (exit 2) says what to set. Returns whether viewing the page needs the token too (a non-loopback
 * host: the page shows the pipeline's shape to whoever reaches the address).
 */
export function checkConsoleAccess(access: ConsoleAccess): { viewNeedsToken: boolean } {
  const exposed = !isLoopbackHost(access.host);
  const why = [exposed ? `--host ${access.host} is reachable from other machines` : '', access.allowActions ? '--allow-actions lets the page redrive and verify' : ''].filter(Boolean);
  if (why.length > 0) {
    if (access.token === undefined || access.token === '') {
      throw new OutboxError('USAGE_INVALID', `${why.join(' and ')}: set OUTBOX_CONSOLE_TOKEN to a secret of at least ${MIN_TOKEN_LENGTH} characters (for example \`openssl rand -hex 24\`), or leave the console on 127.0.0.1${access.allowActions ? ' without --allow-actions' : ''}.`, {
        context: { setting: 'OUTBOX_CONSOLE_TOKEN' },
      });
    }
    if (access.token.length < MIN_TOKEN_LENGTH) {
      throw new OutboxError('USAGE_INVALID', `OUTBOX_CONSOLE_TOKEN is ${access.token.length} characters long; give it at least ${MIN_TOKEN_LENGTH} (for example \`openssl rand -hex 24\`).`, { context: { setting: 'OUTBOX_CONSOLE_TOKEN' } });
    }
  }
  return { viewNeedsToken: exposed };
}

/** Compares a presented token with the configured one in constant time (both hashed first, so their lengths do not show either). */
export function tokenMatches(expected: string | undefined, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(presented));
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** The console's session cookie: set after a token check, so the page's event stream (which cannot send headers) is authorised. */
export const SESSION_COOKIE = 'outbox_console_session';

/** The session cookie's value for a token: derived from it, so the cookie never holds the token itself. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('outbox console session').digest('hex');
}

/** A cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * Whether a request's Host header names this console. On loopback it must be localhost or a
 * loopback address: a web page whose DNS name is rebound to 127.0.0.1 sends its own name and is
 * refused. A console on another address accepts any Host (the token guards it).
 */
export function hostHeaderAllowed(bindHost: string, hostHeader: string | undefined): boolean {
  if (!isLoopbackHost(bindHost)) return true;
  if (!hostHeader) return false;
  const name = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.replace(/:\d+$/, '');
  return isLoopbackHost(name);
}
