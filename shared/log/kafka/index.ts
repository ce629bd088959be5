export { KAFKA_PRODUCER, KafkaLog } from './kafka-log.js';
export { defaultKafkaLogOptions, resolveKafkaLogOptions, KafkaLogLevels } from './options.js';
export type { KafkaLogOptions, KafkaLogLogger, KafkaLogLevel, ResolvedKafkaLogOptions } from './options.js';
export { isLogUnavailable } from './kafka-errors.js';
