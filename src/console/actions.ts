import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';
import { redriveMessages } from '../consumer/index.js';
import { queueNames, requireQueueUrl, targetOf, topicOf } from '../aws/resources.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createMetrics } from '../observability/metrics.js';
import type { SourceAdapter } from '../source/index.js';
import { configVerifyOptions, runVerify } from '../verify/index.js';
import type { ActionView, Collector } from './collect.js';

/**
 * What the page can start with --allow-actions and the token: a redrive of a target's DLQ (as
 * `outbox redrive <target>`) and a verify of a target (as `outbox verify <target>`, without
 * --repair). One action per target at a time; its outcome is shown on the page until the next one.
 * A redrive waits for a dead-letter read of the console under way, so it sees every message.
 */
export type ActionKind = ActionView['kind'];

export interface ActionDeps {
  config: Config;
  sqs: SQSClient;
  source: () => Promise<SourceAdapter>;
  collector: Collector;
  logger: Logger;
}

export class ActionBusyError extends Error {}

/** Starts an action; resolves when it has ended (the page learns the outcome from the next state). */
export function startAction(deps: ActionDeps, target: string, kind: ActionKind): Promise<ActionView> {
  targetOf(deps.config, target); // TARGET_NOT_FOUND for a name the config does not know
  if (deps.collector.action(target)?.state === 'running') throw new ActionBusyError(`a ${deps.collector.action(target)!.kind} of target "${target}" is running; wait for it to end`);
  const startedAt = new Date().toISOString();
  deps.collector.setAction(target, { kind, state: 'running', startedAt, finishedAt: null, summary: kind === 'redrive' ? 'moving dead letters back to the queue' : 'comparing the target with its share of the source' });
  const log = deps.logger.child({ component: 'console', target, action: kind });
  log.info('action started from the console');
  const work = kind === 'redrive' ? redrive(deps, target) : verify(deps, target);
  return work.then(
    (summary) => finish(deps, target, { kind, state: 'done', startedAt, finishedAt: new Date().toISOString(), summary }),
    (err: unknown) => {
      log.warn({ err: describeError(err) }, 'action failed');
      return finish(deps, target, { kind, state: 'failed', startedAt, finishedAt: new Date().toISOString(), summary: describeError(err) });
    },
  );
}

function finish(deps: ActionDeps, target: string, view: ActionView): ActionView {
  deps.collector.setAction(target, view);
  deps.collector.dlqChanged(target);
  void deps.collector.refresh();
  return view;
}

async function redrive(deps: ActionDeps, name: string): Promise<string> {
  const target = targetOf(deps.config, name);
  const names = queueNames(name, target, topicOf(deps.config, target));
  const [queueUrl, dlqUrl] = [await requireQueueUrl(deps.sqs, names.queue, name), await requireQueueUrl(deps.sqs, names.dlq, name)];
  const result = await deps.collector.withDlq(name, () => redriveMessages(deps.sqs, dlqUrl, queueUrl, { fifo: names.fifo }));
  const parts = [`moved ${result.moved} message(s) to ${names.queue}`];
  if (result.duplicated) parts.push(`${result.duplicated} will be delivered twice (harmless)`);
  if (result.failed) parts.push(`${result.failed} could not be moved and stay in the DLQ; try again`);
  return parts.join('; ');
}

async function verify(deps: ActionDeps, name: string): Promise<string> {
  const { config } = deps;
  const report = await runVerify({
    source: await deps.source(),
    ...configVerifyOptions(config, name),
    logger: deps.logger,
    metrics: createMetrics(),
  });
  const tables = report.tables.map((t) => {
    const diffs = [t.missing.count && `${t.missing.count} missing`, t.extra.count && `${t.extra.count} extra`, t.different.count && `${t.different.count} different`].filter(Boolean);
    return `${t.sourceTable}: ${t.sourceRows} rows, ${diffs.length ? diffs.join(', ') : 'in sync'}`;
  });
  return `${report.drift ? 'drift found (run outbox verify --repair)' : 'in sync'} — ${tables.join('; ')}`;
}
