import type { Command } from 'commander';
import type { DeadLetterRecord } from '../../consumer/index.js';
import { wholeNumber } from '../options.js';
import { print, printJson } from '../output.js';
import { withContext, type GetContext } from '../context.js';

function describe(m: DeadLetterRecord): string[] {
  const event = m.event;
  const what = event ? `${event.op ?? '?'} ${event.table ?? '?'} seq ${event.seq ?? '?'} key ${JSON.stringify(event.key)}${event.claimCheck ? ` (claim-check ${event.claimCheck})` : ''}` : 'not a change event';
  const lines = [
    `${m.messageId}  ${m.code ?? 'moved by SQS after maxReceiveCount receives'}${m.sentAt ? `  sent ${m.sentAt}` : ''}${m.receiveCount !== null ? `  received ${m.receiveCount}×` : ''}`,
    `  event       ${event ? `${event.id}: ` : ''}${what}`,
    `  reason      ${m.reason ?? "none attached: the consumer failed on it repeatedly; its logs have the error"}`,
  ];
  const attributes = Object.entries(m.attributes).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`);
  if (attributes.length) lines.push(`  attributes  ${attributes.join(' ')}`);
  if (m.bodyPreview !== undefined) lines.push(`  body        ${m.bodyPreview}`);
  return lines;
}

/** Messages read when --limit is not given. */
const DEFAULT_LIMIT = 10;

export function registerDlq(program: Command, getContext: GetContext): void {
  program
    .command('dlq')
    .description("read a target's dead-lettered messages without consuming them: why each is there, its event and attributes (row values only with --preview). Exits 1 when the DLQ holds messages")
    .argument('<target>', 'target name from the config')
    .option('--limit <n>', `read at most n messages (default ${DEFAULT_LIMIT})`, wholeNumber('--limit', 1, 1000))
    .option('--preview [chars]', 'also show the first characters of each body (default 200); bodies hold row values, so only when you need them', wholeNumber('--preview', 1, 262_144))
    .option('--json', 'print the messages as JSON')
    .action((name: string, opts: { limit?: number; preview?: number | true; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ createSqsClient }, { listDeadLetters }] = await Promise.all([import('../../aws/clients.js'), import('../../consumer/index.js')]);
        const sqs = createSqsClient(ctx.config);
        try {
          const previewChars = opts.preview === undefined ? undefined : opts.preview === true ? 200 : opts.preview;
          const report = await listDeadLetters(ctx.config, name, sqs, { limit: opts.limit ?? DEFAULT_LIMIT, ...(previewChars !== undefined ? { previewChars } : {}) });
          // dead letters are changes missing at the target: "found problems", like verify's drift
          if (report.messages.length > 0 || report.depth.visible > 0) process.exitCode = 1;
          if (opts.json) {
            printJson(report);
            return;
          }
          const inFlight = report.depth.inFlight ? ` (+${report.depth.inFlight} in flight)` : '';
          if (report.messages.length === 0) {
            print(`DLQ ${report.queue} of target "${name}" is empty${inFlight}.`);
            return;
          }
          print(`DLQ ${report.queue} of target "${name}": about ${report.depth.visible} message(s)${inFlight}; showing ${report.messages.length}, left in the queue.`);
          for (const m of report.messages) {
            print();
            for (const line of describe(m)) print(line);
          }
          print();
          print(`Fix the cause, then: outbox redrive ${name}${report.notReleased ? ` (${report.notReleased} message(s) stay hidden for up to 30 s)` : ''}`);
        } finally {
          sqs.destroy();
        }
      }),
    );
}
