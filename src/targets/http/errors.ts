import { OutboxError } from '../../errors.js';
import type { ApplyOutcome } from '../types.js';

/**
 * What an endpoint's answer means: 2xx applied; 4xx rejected (to the DLQ) except 408 and 429;
 * 3xx, 5xx, 408 and 429 throw (retryable), like timeouts and connection errors.
 */
export function outcomeOfStatus(target: string, status: number): ApplyOutcome {
  if (status >= 200 && status < 300) return { status: 'applied' };
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return { status: 'rejected', reason: `HTTP ${status} from the endpoint of target "${target}"` };
  throw new OutboxError('TARGET_UNAVAILABLE', `Target "${target}": the endpoint answered HTTP ${status}; the batch will be retried.`, { retryable: true, context: { target, status } });
}
