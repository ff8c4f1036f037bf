import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { quietAwsSdkNodeWarning } from '../config/index.js';
import { OutboxError } from '../errors.js';
import { LOG_FORMATS, type LogFormat } from '../logger.js';
import { PACKAGE_ROOT } from '../sql/files.js';
import { registerCommands, SERVICE_COMMANDS } from './commands/index.js';
import { createContext, type CommandContext } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { explainError } from './explain-error.js';
import { oneOf } from './options.js';
import { printError } from './output.js';

export { EXIT };

interface GlobalOptions {
  config?: string;
  logFormat?: LogFormat;
  verbose?: boolean;
}

/** The version in package.json, as the installed package ships it. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds the `outbox` program. Each command module registers itself with a way to get the context. */
export function buildProgram(): { program: Command; getContext: () => CommandContext; currentContext: () => CommandContext | undefined } {
  const program = new Command('outbox')
    .description('Continuous change sync from a source database to targets through SNS and SQS')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .option('-c, --config <file>', 'config file (default ./outbox.config.yaml; environment variables override it)')
    .addOption(
      new Option('--log-format <format>', 'logs on standard error as json lines or human lines (default: json for relay and consume, human for the other commands)').argParser(
        oneOf('--log-format', LOG_FORMATS),
      ),
    )
    .option('-v, --verbose', 'log info lines too (commands other than relay and consume log only warnings and errors)')
    .showHelpAfterError('(run outbox --help for usage)')
    .exitOverride();
  let context: CommandContext | undefined;
  let service = false;
  program.hook('preAction', (_program, action) => {
    service = SERVICE_COMMANDS.has(action.name());
  });
  const getContext = () => {
    const opts = program.opts<GlobalOptions>();
    return (context ??= createContext(opts.config, { ...(opts.logFormat ? { format: opts.logFormat } : {}), verbose: Boolean(opts.verbose), service }));
  };
  registerCommands(program, getContext);
  return { program, getContext, currentContext: () => context };
}

/** Runs the CLI and returns the exit code (0 done, 1 failed or found problems, 2 bad usage or config). */
export async function main(argv: string[]): Promise<number> {
  quietAwsSdkNodeWarning();
  const { program, currentContext } = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    // commander prints its own usage errors (and help, and the version)
    const fromCommander = err instanceof Error && 'code' in err && String(err.code).startsWith('commander.');
    if (!fromCommander) printError(explainError(err, currentContext()?.config));
    return exitCodeFor(err);
  }
}

export { OutboxError };
