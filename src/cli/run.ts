/**
 * Runs the CLI from source (`npx tsx src/cli/run.ts …`), for tests and development without a build.
 * The installed binary is bin/outbox.js, which runs the same main() from dist/.
 */
import { main } from './main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`outbox: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
