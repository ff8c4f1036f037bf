export { runVerify, configVerifyOptions, DEFAULT_CHUNK_SIZE, type VerifyOptions, type VerifyReport, type TableReport, type VerifyProgress } from './run-verify.js';
export type { RepairKey, RepairResult } from '../source/capabilities.js';
export type { TargetReader, TargetTableSpec, Divergence, KeyFilter } from '../targets/index.js';
export { openTargetReader, type VerifiableKind } from './target-reader.js';
