/** The HTTP webhook target: its writer, and the header names and signature a receiver checks. */
export { HttpTargetWriter, type HttpWriterOptions } from './writer.js';
export { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signBody, TIMESTAMP_HEADER, webhookBody } from './body.js';
