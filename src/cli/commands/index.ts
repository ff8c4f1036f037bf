import type { Command } from 'commander';
import type { GetContext } from '../context.js';
import { registerMigrate } from './migrate.js';
import { registerTrack } from './track.js';
import { registerStatus } from './status.js';
import { registerDoctor } from './doctor.js';
import { registerSubscribe } from './subscribe.js';
import { registerConsume } from './consume.js';
import { registerRedrive } from './redrive.js';
import { registerRelay } from './relay.js';
import { registerBackfill } from './backfill.js';
import { registerVerify } from './verify.js';
import { registerTarget } from './target.js';
import { registerReplay } from './replay.js';
import { registerDemo } from './demo.js';
import { registerDlq } from './dlq.js';
import { registerConsole } from './console.js';

/** Commands that run until stopped: they log JSON lines at log.level; every other command prints a result and logs only warnings. */
export const SERVICE_COMMANDS: ReadonlySet<string> = new Set(['relay', 'consume']);

/** Every command of the CLI. A new command adds one line here. */
export function registerCommands(program: Command, ctx: GetContext): void {
  registerMigrate(program, ctx);
  registerTrack(program, ctx);
  registerStatus(program, ctx);
  registerDoctor(program, ctx);
  registerSubscribe(program, ctx);
  registerConsume(program, ctx);
  registerRedrive(program, ctx);
  registerDlq(program, ctx);
  registerRelay(program, ctx);
  registerBackfill(program, ctx);
  registerVerify(program, ctx);
  registerTarget(program, ctx);
  registerReplay(program, ctx);
  registerDemo(program);
  registerConsole(program, ctx);
}
