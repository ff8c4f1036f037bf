import type { Command } from 'commander';
import type { SubscriptionPlan } from '../../subscriptions/index.js';
import { describeError } from '../../errors.js';
import { formatTableName } from '../../sql/identifiers.js';
import { withContext, type CommandContext, type GetContext } from '../context.js';
import { explainError } from '../explain-error.js';
import { note, print, printJson, table } from '../output.js';

/**
 * Warnings about the plan's filter policy (keys no tracked table sets, truncates it would block). The
 * tracked attribute columns come from the source; when it cannot be read, only what the config alone
 * shows is checked, and a note says so.
 */
async function planWarnings(ctx: CommandContext, plan: SubscriptionPlan): Promise<{ warnings: string[]; checkedAttributes: boolean }> {
  let tracked: Map<string, string[]> | undefined;
  try {
    const tables = await (await ctx.source()).listTracked();
    tracked = new Map(tables.map((t) => [formatTableName(t.table), t.attributeColumns]));
  } catch (err) {
    note(`Note: filter keys not checked against the tracked attribute columns: the source could not be read (${explainError(err, ctx.config) || describeError(err)}).`);
  }
  const { filterPolicyWarnings } = await import('../../subscriptions/filter-warnings.js');
  const warnings = filterPolicyWarnings({ target: plan.target, config: ctx.config.targets[plan.target]!, policy: plan.filter.policy, sourceName: ctx.config.source.name, ...(tracked ? { tracked } : {}) });
  return { warnings, checkedAttributes: tracked !== undefined };
}

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
        const [{ createSnsClient, createSqsClient }, { applySubscription, planSubscription, summarizeFilterPolicy }] = await Promise.all([import('../../aws/clients.js'), import('../../subscriptions/index.js')]);
        const plan = planSubscription(ctx.config, name);
        const { warnings, checkedAttributes } = await planWarnings(ctx, plan);
        if (!opts.json) for (const w of warnings) note(`WARNING ${w}`);
        if (opts.dryRun) {
          if (opts.json) printJson({ dryRun: true, plan, warnings, checkedAttributes });
          else printPlan(plan);
          return;
        }
        const sns = createSnsClient(ctx.config);
        const sqs = createSqsClient(ctx.config);
        try {
          const result = await applySubscription(plan, sns, sqs);
          if (opts.json) {
            printJson({ ...result, warnings });
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
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: { deleteQueues?: boolean; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ createSnsClient, createSqsClient }, { unsubscribe }] = await Promise.all([import('../../aws/clients.js'), import('../../subscriptions/index.js')]);
        const sns = createSnsClient(ctx.config);
        const sqs = createSqsClient(ctx.config);
        try {
          const result = await unsubscribe(ctx.config, name, sns, sqs, { deleteQueues: Boolean(opts.deleteQueues) });
          if (opts.json) {
            printJson({ target: name, ...result });
            return;
          }
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
        const [{ createSnsClient, createSqsClient }, { listSubscriptions, summarizeFilterPolicy }] = await Promise.all([import('../../aws/clients.js'), import('../../subscriptions/index.js')]);
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
          if (rows.some((r) => (r.dlqDepth?.visible ?? 0) > 0)) print('\nMessages in a DLQ: see why with outbox dlq <target>, fix the cause, then run outbox redrive <target>.');
        } finally {
          sns.destroy();
          sqs.destroy();
        }
      }),
    );
}
