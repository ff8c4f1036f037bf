export { runDemo, type DemoOptions, type DemoSummary } from './run-demo.js';
export { createSyncProgress, formatLag, type SyncProgress } from './progress.js';
export { showUrl } from './target-database.js';
export { DEFAULT_DEMO_SOURCE_URL } from './defaults.js';
