/** The PostgreSQL target: what the rest of the code may use (the consumer's writer, verify's reader). */
export { PostgresTargetWriter, type PostgresWriterOptions } from './writer.js';
export { openPostgresTargetReader as openVerifyReader } from './verify-reader.js';
