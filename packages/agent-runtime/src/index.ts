export * from './transport/index.js';
export * from './control/index.js';
export { USAGE_CODES, runCli, type CliContext } from './cli/run-cli.js';
export { createLogger, silentLogger, type Logger } from './cli/logger.js';
export { errorSummary } from './error-summary.js';
export { cpuMsSince } from './process-cpu.js';
export * from './threads/index.js';
export { formatBytes, parseDuration, parseHostPort, parseRate, parseSize, type HostPort } from './units.js';
