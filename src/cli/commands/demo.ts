import { InvalidArgumentError, type Command } from 'commander';
import { formatDuration } from '../../backfill/progress.js';
import { readAmbientSettings } from '../../config/index.js';
import { DEFAULT_DEMO_SOURCE_URL } from '../../demo/defaults.js';
import type { DemoSummary } from '../../demo/index.js';
import { createLogger } from '../../logger.js';
import { print, printError } from '../output.js';

function number(name: string, min: number, max: number, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${name} must be a ${integer ? 'whole ' : ''}number from ${min} to ${max} (got ${JSON.stringify(value)}).`);
    }
    return n;
  };
}

interface DemoFlags {
  sourceUrl: string;
  targetUrl?: string;
  changes: number;
  rate: number;
  keep?: boolean;
  aws?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('see it work: set up demo tables, the outbox, a target, a relay and a consumer in this process, write changes, show them arrive, verify, clean up')
    .option('--source-url <url>', 'PostgreSQL for the demo tables and their outbox (schemas named for this run only)', DEFAULT_DEMO_SOURCE_URL)
    .option('--target-url <url>', 'PostgreSQL for the target copies (default: a new database on the source server, or a schema in the source database)')
    .option('--changes <n>', 'changes to write', number('--changes', 1, 1_000_000, true), 1000)
    .option('--rate <r>', 'changes per second, about', number('--rate', 1, 10_000, false), 100)
    .option('--keep', 'keep the tables, outbox and target afterwards, and print how to look at them')
    .option('--aws', 'use AWS from the SDK default chain instead of the in-process SNS/SQS emulator (AWS_ENDPOINT_URL, when set, is always used)')
    .action(async (flags: DemoFlags) => {
      const { createSyncProgress, formatLag, runDemo, showUrl } = await import('../../demo/index.js');
      const ambient = readAmbientSettings(program.opts<{ config?: string }>().config);
      const logger = createLogger(ambient.logLevel ?? 'error');
      const abort = new AbortController();
      let signals = 0;
      const onSignal = () => {
        signals += 1;
        if (signals > 1) process.exit(130);
        printError('stopping: cleaning up what the demo created (again to quit at once)…');
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await runDemo({
          sourceUrl: flags.sourceUrl,
          targetUrl: flags.targetUrl,
          changes: flags.changes,
          ratePerSec: flags.rate,
          keep: Boolean(flags.keep),
          useAws: Boolean(flags.aws),
          ambient,
          logger,
          signal: abort.signal,
          step: (line) => print(`• ${line}`),
          progress: () => createSyncProgress({ stream: process.stdout, printLine: print }),
        });
        printSummary(summary, formatLag, showUrl);
        if (!summary.caughtUp || summary.verify.drift) process.exitCode = 1;
      } catch (err) {
        if (!abort.signal.aborted) throw err;
        print('Interrupted; what the demo created was removed.');
        process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        logger.flush();
      }
    });
}

function printSummary(s: DemoSummary, formatLag: (ms: number | null) => string, showUrl: (url: string) => string): void {
  const kinds = Object.entries(s.workload.byKind)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`)
    .join(', ');
  const ok = s.caughtUp && !s.verify.drift;
  print('');
  print(ok ? 'Summary: the target equals the source.' : 'Summary: the target does NOT equal the source.');
  print(`  changes     ${s.workload.statements} written (${kinds}) → ${s.workload.events} events, plus ${s.backfilledRows} backfilled rows`);
  print(`  delivered   ${s.delivered} of ${s.expected} at the target; duplicates absorbed ${s.duplicates}; older versions skipped ${s.superseded}; dead-lettered ${s.deadLettered}`);
  print(`  lag         p50 ${formatLag(s.lagP50Ms)}, p99 ${formatLag(s.lagP99Ms)} (captured in the source → committed at the target)`);
  print(`  elapsed     ${formatDuration(s.elapsedMs / 1000)}`);
  for (const t of s.verify.tables) {
    const problems = [t.missing.count && `${t.missing.count} missing`, t.extra.count && `${t.extra.count} extra`, t.different.count && `${t.different.count} different (${Object.keys(t.different.columns).join(', ')})`].filter(Boolean);
    const sample = [...t.missing.sample, ...t.extra.sample, ...t.different.sample].slice(0, 5).map((k) => JSON.stringify(k));
    print(`  verify      ${t.sourceTable} → ${t.targetTable}: ${t.sourceRows} rows, ${problems.length ? `${problems.join(', ')}; e.g. ${sample.join(' ')}` : 'in sync'}`);
  }
  if (!s.kept) {
    print('  cleanup     demo tables, outbox, target and queues removed (run with --keep to look at them)');
    return;
  }
  const n = s.names;
  const src = showUrl(s.sourceUrl);
  const tgt = showUrl(s.targetUrl);
  print('');
  print(`Kept for you to look at (target: ${s.targetDescription}):`);
  print(`  psql '${src}' -c 'TABLE ${n.dataSchema}.customers'`);
  print(`  psql '${tgt}' -c 'TABLE ${n.targetSchema}.customers'`);
  print(`  OUTBOX_SOURCE_URL='${src}' OUTBOX_SCHEMA=${n.outboxSchema} npx outbox status`);
  print('Remove it with:');
  print(`  psql '${src}' -c 'DROP SCHEMA ${n.dataSchema}, ${n.outboxSchema} CASCADE'`);
  print(tgt.includes(`/${n.targetDatabase}`) ? `  psql '${src}' -c 'DROP DATABASE ${n.targetDatabase}'` : `  psql '${tgt}' -c 'DROP SCHEMA ${n.targetSchema}, ${n.stateSchema} CASCADE'`);
  if (s.names && s.kept) print('(The in-process SNS/SQS emulator stopped with the demo; with --aws or AWS_ENDPOINT_URL the topic and queues were kept too.)');
}
