/** The DynamoDB target: what the rest of the code may use (the consumer's writer, verify's reader). */
export { DynamodbTargetWriter, type DynamodbWriterOptions } from './writer.js';
export { openDynamodbTargetReader as openVerifyReader, type DynamodbReaderOptions } from './verify-reader.js';
