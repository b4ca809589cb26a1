export * from './transport/index.js';
export * from './control/index.js';
export { USAGE_CODES, runCli, type CliContext } from './cli/run-cli.js';
export { createLogger, silentLogger, type Logger } from './cli/logger.js';
export { loadControlAccess, withControlAccessOptions, type ControlAccessArguments } from './cli/control-access-options.js';
export { TOKEN_IDENTITY, checkListenSecurity, isLoopback, loadTransportSecurity, parsePskFile, withTlsOptions, type TlsArguments } from './cli/tls-options.js';
export { errorSummary } from './error-summary.js';
export * from './threads/index.js';
export { formatBytes, parseDuration, parseHostPort, parseRate, parseSize, type HostPort } from './units.js';
