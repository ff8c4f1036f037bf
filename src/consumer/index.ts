export { Consumer, type ChangeTransform, type ConsumerEvents, type ConsumerOptions, type BatchAppliedEvent, type DeadLetteredEvent, type HaltedEvent } from './consumer.js';
export { openConsumer, type OpenConsumerDeps } from './open.js';
export { redriveMessages, type RedriveResult } from './redrive.js';
export { listDeadLetters, readDeadLetters, describeDeadLetter, DEFAULT_DLQ_READ_LIMIT, type DeadLetterRecord, type DeadLetterEvent, type DeadLetterReport, type ReadDeadLettersOptions } from './read-dead-letters.js';
export { ERROR_CODE_ATTRIBUTE, ERROR_REASON_ATTRIBUTE, type DeadLetterCode } from './dead-letter.js';
