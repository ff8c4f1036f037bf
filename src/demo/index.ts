export { runDemo, type DemoOptions, type DemoSummary } from './run-demo.js';
export { createSyncProgress, formatLag, type SyncProgress } from './progress.js';
export { showUrl } from './target-database.js';
export const DEFAULT_DEMO_SOURCE_URL = 'postgres://postgres@127.0.0.1:5432/test';
