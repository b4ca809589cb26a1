export { checkAccess, checkControlBinding, readControlToken, type ControlAccess } from './access.js';
export { ControlClient, type ControlClientOptions, type ControlEvent } from './control-client.js';
export {
  CONTROL_CLIENT_ERRORS,
  CONTROL_ERRORS,
  ControlClientError,
  ControlError,
  controlError,
  errorBody,
  oneLine,
  toControlError,
  type ControlErrorCode,
  type ErrorBody,
} from './errors.js';
export { EventStream, type EventStreamOptions } from './event-stream.js';
export {
  ControlServer,
  type ControlLogger,
  type ControlServerOptions,
  type HttpMethod,
  type ListenAddress,
  type Route,
  type RouteContext,
  type RouteHandler,
  type RouteResult,
} from './http-server.js';
export { DEFAULT_BODY_LIMIT, describeJsonType, isJsonObject, readJsonObjectBody } from './json-body.js';
export {
  createMetrics,
  metricsHandler,
  type ControlMetrics,
  type CreateMetricsOptions,
  type MetricDescription,
  type MetricSample,
  type MetricsCollector,
} from './metrics.js';
export {
  MAX_STRING_OPTION_CHARS,
  optionSchema,
  readOptions,
  type BooleanOption,
  type NumberOption,
  type OptionSchema,
  type OptionSpec,
  type OptionsOf,
  type StringOption,
} from './options.js';
export { SseParser, type ServerSentEvent } from './sse-parser.js';
