import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The CLI as a user runs it: a subprocess, from the current source (no build needed). The source is
 * bundled once per test process with esbuild (tsx's compiler), so each run costs a plain node start;
 * if esbuild cannot be loaded, each run goes through the tsx loader instead. The bundle is split at
 * the CLI's dynamic imports, as the built package loads them: a command loads only what it uses.
 */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI_SOURCE = join(ROOT, 'src/cli/run.ts');

let nodeArgs: Promise<string[]> | undefined;

/** The node arguments that start `outbox` from source. */
export function cliNodeArgs(): Promise<string[]> {
  nodeArgs ??= (async () => {
    // inside the package folder, so the bundle finds sql/ and node_modules/ as the real binary does
    const dir = join(ROOT, 'node_modules/.cache/outbox-test-cli');
    const outdir = join(dir, `run-${process.pid}`);
    removeStaleBundles(dir);
    try {
      const esbuild = await import('esbuild');
      await esbuild.build({ entryPoints: [CLI_SOURCE], outdir, outExtension: { '.js': '.mjs' }, splitting: true, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error' });
      return [join(outdir, 'run.mjs')];
    } catch {
      return ['--import', join(ROOT, 'node_modules/tsx/dist/loader.mjs'), CLI_SOURCE];
    }
  })();
  return nodeArgs;
}

/** Bundles of test processes that are gone (test workers end without an exit hook running). */
function removeStaleBundles(dir: string): void {
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return;
  }
  for (const file of files) {
    const pid = Number(/^run-(\d+)(?:\.mjs)?$/.exec(file)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(dir, file), { force: true, recursive: true });
    }
  }
}

export interface CliOptions {
  /** Variables for the run. Without inheritEnv the environment is only PATH, HOME and these, so no developer setting leaks in. */
  env?: Record<string, string>;
  inheritEnv?: boolean;
  cwd?: string;
  timeoutMs?: number;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function environment(options: CliOptions): NodeJS.ProcessEnv {
  const base = options.inheritEnv ? process.env : { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? options.cwd ?? ROOT };
  return { ...base, ...options.env };
}

/** Runs `outbox <args>` to the end; code is -1 when it was killed (timeout). */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const argv = [...(await cliNodeArgs()), ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: options.cwd ?? ROOT, env: environment(options), timeout: options.timeoutMs ?? 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

export interface CliChild {
  process: ChildProcess;
  output(): { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** Starts `outbox <args>` in its own process group (so a test can kill -9 the group) and collects its output. */
export async function spawnCli(args: string[], options: CliOptions = {}): Promise<CliChild> {
  let stdout = '';
  let stderr = '';
  const child = spawn(process.execPath, [...(await cliNodeArgs()), ...args], { cwd: options.cwd ?? ROOT, env: environment(options), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { process: child, output: () => ({ stdout, stderr }), exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}
