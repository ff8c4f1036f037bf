import pg from 'pg';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createPgPool } from '../sql/pg-pool.js';
import { quoteIdent } from '../sql/identifiers.js';
import type { DemoNames } from './names.js';
import { dropSchema } from './tables.js';

/** Where the demo's target lives: a database of its own when the server lets us create one, else schemas in the source database. */
export interface DemoTargetDatabase {
  url: string;
  /** For people: which database and schema. */
  description: string;
  /** Whether the demo created the database (and drops it on cleanup). */
  createdDatabase: boolean;
  pool: pg.Pool;
  /** Removes what the demo created there. Close every other connection to it first. */
  remove(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The database name of a URL, for messages (never the credentials). */
export function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
}

export async function prepareTargetDatabase(options: { sourceUrl: string; targetUrl?: string; names: DemoNames; logger: Logger }): Promise<DemoTargetDatabase> {
  const { names, logger } = options;
  const inSchemas = (url: string, description: string): DemoTargetDatabase => {
    const pool = createPgPool({ url, max: 2, logger, applicationName: 'outbox-relay demo' });
    return {
      url,
      description,
      createdDatabase: false,
      pool,
      async remove() {
        await dropSchema(pool, names.targetSchema);
        await dropSchema(pool, names.stateSchema);
        await pool.end();
      },
    };
  };
  if (options.targetUrl) return inSchemas(options.targetUrl, `${describeUrl(options.targetUrl)}, schema ${names.targetSchema}`);

  const admin = new pg.Client({ connectionString: options.sourceUrl, application_name: 'outbox-relay demo' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(names.targetDatabase)}`);
  } catch (err) {
    logger.info({ err: describeError(err) }, 'could not create a target database; using schemas in the source database');
    await admin.end();
    return inSchemas(options.sourceUrl, `the source database, schema ${names.targetSchema} (could not create a database: ${describeError(err)})`);
  }
  await admin.end();
  const url = withDatabase(options.sourceUrl, names.targetDatabase);
  const pool = createPgPool({ url, max: 2, logger, applicationName: 'outbox-relay demo' });
  return {
    url,
    description: `database ${names.targetDatabase}, schema ${names.targetSchema}`,
    createdDatabase: true,
    pool,
    async remove() {
      await pool.end();
      const drop = new pg.Client({ connectionString: options.sourceUrl, application_name: 'outbox-relay demo' });
      await drop.connect();
      try {
        await drop.query(`DROP DATABASE IF EXISTS ${quoteIdent(names.targetDatabase)} WITH (FORCE)`);
      } finally {
        await drop.end();
      }
    },
  };
}

/** A URL to show people: the password, if any, replaced. */
export function showUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
