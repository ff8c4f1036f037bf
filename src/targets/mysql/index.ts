/** The MySQL/MariaDB target: what the rest of the code may use (the consumer's writer, verify's reader). */
export { MysqlTargetWriter, type MysqlWriterOptions } from './writer.js';
export { openMysqlTargetReader as openVerifyReader } from './verify-reader.js';
