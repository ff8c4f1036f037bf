import { Command, CommanderError } from 'commander';
import { isOutboxError, OutboxError } from '../errors.js';
import { printError } from './output.js';
import { createContext, type CommandContext } from './context.js';
import { registerCommands } from './commands/index.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Builds the `outbox` program. Each command module registers itself with a way to get the context. */
export function buildProgram(): { program: Command; getContext: () => CommandContext } {
  const program = new Command('outbox')
    .description('Continuous change sync from a source database to targets through SNS and SQS')
    .option('-c, --config <file>', 'config file (default ./outbox.config.yaml; environment variables override it)')
    .showHelpAfterError('(run outbox --help for usage)')
    .exitOverride();
  let context: CommandContext | undefined;
  const getContext = () => (context ??= createContext(program.opts().config));
  registerCommands(program, getContext);
  return { program, getContext: () => context ?? getContext() };
}

/** Runs the CLI and returns the exit code (0 done, 1 failed or found problems, 2 bad usage or config). */
export async function main(argv: string[]): Promise<number> {
  const { program } = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isOutboxError(err)) {
      printError(err.message);
      return err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_NOT_FOUND' || err.code === 'IDENTIFIER_INVALID' || err.code === 'VERIFY_UNSUPPORTED' ? EXIT.usage : EXIT.failure;
    }
    printError(err instanceof Error ? `${err.message}` : String(err));
    return EXIT.failure;
  }
}

export { OutboxError };
