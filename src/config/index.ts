export { loadConfig, parseConfig, DEFAULT_CONFIG_FILE, ENVIRONMENT, type Config, type TargetSecrets, type LoadOptions } from './load.js';
export * from './schema.js';
export { readAmbientSettings, type AmbientSettings } from './ambient.js';
export { nodeSupport, quietAwsSdkNodeWarning, SUPPORTED_NODE_MAJORS, type NodeSupport } from './node-version.js';
export { readConsoleToken, ambientSecretValues, CONSOLE_TOKEN_VARIABLE } from './console.js';
