/** The PostgreSQL `outbox demo` uses when --source-url is not given: the local development server. */
export const DEFAULT_DEMO_SOURCE_URL = 'postgres://postgres@127.0.0.1:5432/test';
