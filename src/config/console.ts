/**
 * What `outbox console` reads from the environment besides the config: its access token, and the
 * secret values the page must never show (it scrubs them from every payload as a last line of
 * defence; the payloads are built from non-secret fields in the first place).
 */
export const CONSOLE_TOKEN_VARIABLE = 'OUTBOX_CONSOLE_TOKEN';

export function readConsoleToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[CONSOLE_TOKEN_VARIABLE] || undefined;
}

/** Credentials the AWS SDK's default chain may take from the environment. */
export function ambientSecretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  return ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', CONSOLE_TOKEN_VARIABLE].map((name) => env[name]).filter((v): v is string => Boolean(v));
}
