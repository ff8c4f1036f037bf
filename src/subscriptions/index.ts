export { targetFilterPolicy, buildFilterPolicy, checkFilterPolicy, summarizeFilterPolicy, FILTER_POLICY_LIMITS, type FilterPolicy, type TargetFilterPolicy } from '../share/filter-policy.js';
export { planSubscription, applySubscription, unsubscribe, listSubscriptions, type SubscriptionPlan, type SubscriptionResult, type TargetSubscriptionStatus } from './subscribe.js';
export { queueNames, targetOf, topicOf, requireQueueUrl, queueDepth, type QueueNames, type QueueDepth } from './resources.js';
