export { Consumer, type ChangeTransform, type ConsumerEvents, type ConsumerOptions, type BatchAppliedEvent, type DeadLetteredEvent, type HaltedEvent } from './consumer.js';
export { openConsumer, type OpenConsumerDeps } from './open.js';
export { targetFilterPolicy, buildFilterPolicy, checkFilterPolicy, summarizeFilterPolicy, FILTER_POLICY_LIMITS, type FilterPolicy, type TargetFilterPolicy } from './filter-policy.js';
export { planSubscription, applySubscription, unsubscribe, listSubscriptions, type SubscriptionPlan, type SubscriptionResult, type TargetSubscriptionStatus } from './subscribe.js';
export { redriveMessages, type RedriveResult } from './redrive.js';
export { listDeadLetters, readDeadLetters, describeDeadLetter, DEFAULT_DLQ_READ_LIMIT, type DeadLetterRecord, type DeadLetterEvent, type DeadLetterReport, type ReadDeadLettersOptions } from './read-dead-letters.js';
export { ERROR_CODE_ATTRIBUTE, ERROR_REASON_ATTRIBUTE, type DeadLetterCode } from './dead-letter.js';
export { queueNames, targetOf, topicOf, requireQueueUrl, type QueueNames } from './resources.js';
