import type { Command } from 'commander';
import { print, printJson } from '../output.js';
import { withContext, type GetContext } from '../context.js';

/** What migrate says about the optional DDL event triggers (docs/capture.md, "Event triggers"). */
const EVENT_TRIGGERS = {
  installed: 'DDL event triggers installed: a DROP or RENAME of a key or attribute column of a tracked table is refused at DDL time.',
  present: 'DDL event triggers are installed.',
  'not-permitted': 'DDL event triggers not installed: creating them needs a superuser. Capture works without them (docs/capture.md, "Event triggers").',
  skipped: 'DDL event triggers skipped by setting (source.eventTriggers: skip).',
  dropped: 'DDL event triggers dropped (source.eventTriggers: skip): the relay notices schema changes from the rows and the catalog.',
  'drop-not-permitted': 'DDL event triggers NOT dropped although source.eventTriggers is skip: only their owner (a superuser) may drop them. Run outbox migrate as a superuser.',
} as const;

export function registerMigrate(program: Command, getContext: GetContext): void {
  program
    .command('migrate')
    .description('install or upgrade the outbox schema in the source database (safe to run again, or many at once)')
    .option('--json', 'print the result as JSON')
    .option('--no-event-triggers', 'PostgreSQL: do not install the DDL event triggers, and drop installed ones (as source.eventTriggers: skip)')
    .action((opts: { json?: boolean; eventTriggers?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const source = await ctx.source();
        const result = await source.migrate(opts.eventTriggers === false ? { eventTriggers: 'skip' } : {});
        if (opts.json) printJson({ schema: source.schema, ...result });
        else if (result.applied.length === 0) print(`Outbox schema "${source.schema}" is up to date (version ${result.current}).`);
        else print(`Applied ${result.applied.map((m) => `${m.version} ${m.name}`).join(', ')}; outbox schema "${source.schema}" is at version ${result.current}.`);
        if (!opts.json && result.eventTriggers) print(EVENT_TRIGGERS[result.eventTriggers]);
      }),
    );
}
