import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, REDIS_URL } from './env.js';

/** Fails fast, with what to run, when a service the integration tests need is down. */
export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await client.connect();
    await client.end();
  } catch (err) {
    throw new Error(`PostgreSQL at ${PG_ADMIN_URL} is not reachable (${(err as Error).message}). Run: bash deploy/services.sh`);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis at ${REDIS_URL} is not reachable (${(err as Error).message}). Run: bash deploy/services.sh`);
  } finally {
    redis.disconnect();
  }
}
