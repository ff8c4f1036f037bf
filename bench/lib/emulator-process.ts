import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface EmulatorProcess {
  endpoint: string;
  child: ChildProcess;
  stop(): void;
}

/**
 * fauxqs in its own process, so it shares no event loop with what is measured (its CLI logs every
 * request, so a one-line script instead).
 */
export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const script = "import { startFauxqs } from 'fauxqs'; const s = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false }); console.log(s.port);";
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${Number(line)}`, child, stop: () => void child.kill() };
}
