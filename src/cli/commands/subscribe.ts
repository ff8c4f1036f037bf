import type { Command } from 'commander';
import { createSnsClient, createSqsClient } from '../../aws/clients.js';
import { applySubscription, listSubscriptions, planSubscription, summarizeFilterPolicy, unsubscribe, type SubscriptionPlan } from '../../consumer/index.js';
import { print, printJson, table } from '../output.js';
import { withContext, type GetContext } from './index.js';

function printPlan(plan: SubscriptionPlan): void {
  const topic = plan.topic.arn ?? `${plan.topic.name} (CreateTopic: created if missing)`;
  print(`Plan for target "${plan.target}" (no AWS call made):`);
  print(`  topic             ${topic}${plan.topic.fifo ? ' [FIFO]' : ''}`);
  print(`  dead-letter queue ${plan.queues.dlq}  ${Object.entries(plan.dlqAttributes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  print(`  queue             ${plan.queues.queue}  ${Object.entries(plan.queueAttributes).map(([k, v]) => `${k}=${v}`).join(' ')} RedrivePolicy(maxReceiveCount=${plan.maxReceiveCount} → ${plan.queues.dlq})`);
  print(`  queue policy      allow sns.amazonaws.com sqs:SendMessage from the topic ARN`);
  print(`  subscription      protocol sqs, RawMessageDelivery=true, FilterPolicyScope=MessageAttributes`);
  print(`  filter policy     (${plan.filter.origin}; ${plan.filter.combinations} value combination(s), ${plan.filter.bytes} bytes)`);
  print(JSON.stringify(plan.filter.policy, null, 2).replace(/^/gm, '    '));
  for (const warning of plan.warnings) print(`  warning: ${warning}`);
}

export function registerSubscribe(program: Command, getContext: GetContext): void {
  program
    .command('subscribe')
    .description("create (or update) a target's SQS queue, DLQ, queue policy and SNS subscription with its filter policy")
    .argument('<target>', 'target name from the config')
    .option('--dry-run', 'print the plan and the filter policy; call nothing')
    .option('--json', 'print JSON')
    .action((name: string, opts: { dryRun?: boolean; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const plan = planSubscription(ctx.config, name);
        if (opts.dryRun) {
          if (opts.json) printJson({ dryRun: true, plan });
          else printPlan(plan);
          return;
        }
        const sns = createSnsClient(ctx.config);
        const sqs = createSqsClient(ctx.config);
        try {
          const result = await applySubscription(plan, sns, sqs);
          if (opts.json) {
            printJson(result);
            return;
          }
          const state = (created: boolean) => (created ? 'created' : 'exists, updated');
          print(`Target "${name}" subscribed.`);
          print(`  topic         ${result.topicArn}`);
          print(`  queue         ${result.queueUrl} (${state(result.created.queue)})`);
          print(`  DLQ           ${result.dlqUrl} (${state(result.created.dlq)})`);
          print(
            `  subscription  ${result.subscriptionArn} (${result.created.subscription ? 'created' : result.updatedSubscriptionAttributes.length ? `updated ${result.updatedSubscriptionAttributes.join(', ')}` : 'unchanged'})`,
          );
          print(`  filter        ${summarizeFilterPolicy(plan.filter.policy)}`);
          for (const warning of plan.warnings) print(`  warning       ${warning}`);
          print(`Next: outbox consume ${name}`);
        } finally {
          sns.destroy();
          sqs.destroy();
        }
      }),
    );

  program
    .command('unsubscribe')
    .description("remove a target's SNS subscription (its queues and their messages stay unless --delete-queues)")
    .argument('<target>', 'target name from the config')
    .option('--delete-queues', 'also delete the queue and the DLQ, with any messages in them')
    .action((name: string, opts: { deleteQueues?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const sns = createSnsClient(ctx.config);
        const sqs = createSqsClient(ctx.config);
        try {
          const result = await unsubscribe(ctx.config, name, sns, sqs, { deleteQueues: Boolean(opts.deleteQueues) });
          print(result.subscriptionArn ? `Removed subscription ${result.subscriptionArn}.` : `Target "${name}" had no subscription.`);
          if (opts.deleteQueues) print(result.deletedQueues.length ? `Deleted queues: ${result.deletedQueues.join(', ')}.` : 'No queues to delete.');
          else print('Queues kept; run again with --delete-queues to remove them.');
        } finally {
          sns.destroy();
          sqs.destroy();
        }
      }),
    );

  program
    .command('subscriptions')
    .description('each target: its subscription, filter policy, queue depth and DLQ depth')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const sns = createSnsClient(ctx.config);
        const sqs = createSqsClient(ctx.config);
        try {
          const rows = await listSubscriptions(ctx.config, sns, sqs);
          if (opts.json) {
            printJson(rows);
            return;
          }
          if (rows.length === 0) {
            print('No targets in the config.');
            return;
          }
          const depth = (d: { visible: number; inFlight: number } | null) => (d ? `${d.visible}${d.inFlight ? ` (+${d.inFlight} in flight)` : ''}` : 'no queue');
          print(
            table([
              ['TARGET', 'SUBSCRIPTION', 'FILTER', 'QUEUE', 'DLQ'],
              ...rows.map((r) => [r.target, r.subscriptionArn ?? `none (run outbox subscribe ${r.target})`, r.subscriptionArn ? summarizeFilterPolicy(r.filterPolicy ?? undefined) : '-', depth(r.queueDepth), depth(r.dlqDepth)]),
            ]),
          );
          if (rows.some((r) => (r.dlqDepth?.visible ?? 0) > 0)) print('\nMessages in a DLQ: read their outbox_error_reason attribute, fix the cause, then run outbox redrive <target>.');
        } finally {
          sns.destroy();
          sqs.destroy();
        }
      }),
    );
}
