import type pg from 'pg';
import { runtimeSql } from '../sql/files.js';
import { quoteIdent } from '../sql/identifiers.js';

/** The demo's two tables: their DDL lives in sql/postgres/runtime/demo_*.sql. */
export const SEED = { customers: 200, orders: 400 } as const;

/** Columns compared between source and target (card_number is excluded at the source). */
const COMPARED: Record<'customers' | 'orders', string[]> = {
  customers: ['id', 'name', 'email', 'tenant_id', 'balance', 'extract(epoch FROM updated_at)'],
  orders: ['id', 'customer_id', 'total', 'status', 'extract(epoch FROM created_at)'],
};

export async function createSourceTables(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(runtimeSql('postgres', 'demo_source_tables', { schema: quoteIdent(schema), customers: String(SEED.customers), orders: String(SEED.orders) }));
}

export async function createTargetTables(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(runtimeSql('postgres', 'demo_target_tables', { schema: quoteIdent(schema) }));
}

export interface Fingerprint {
  rows: number;
  hash: string;
}

/** Row count and hash of both demo tables of a schema; equal fingerprints mean equal data. */
export async function fingerprint(pool: pg.Pool, schema: string): Promise<Record<'customers' | 'orders', Fingerprint>> {
  const one = async (table: 'customers' | 'orders') => {
    const sql = runtimeSql('postgres', 'demo_fingerprint', { table: `${quoteIdent(schema)}.${quoteIdent(table)}`, columns: COMPARED[table].join(', ') });
    return (await pool.query<Fingerprint>(sql)).rows[0]!;
  };
  return { customers: await one('customers'), orders: await one('orders') };
}

export function sameFingerprint(a: Record<string, Fingerprint>, b: Record<string, Fingerprint>): boolean {
  return Object.keys(a).every((t) => a[t]!.rows === b[t]?.rows && a[t]!.hash === b[t]?.hash);
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}
