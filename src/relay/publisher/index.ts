export { createPublisher, type PublisherOptions, type SnsPublisher } from './publisher.js';
export type { RetryPolicy } from './send-batch.js';
