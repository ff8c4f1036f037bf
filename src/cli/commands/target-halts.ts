import type { Config } from '../../config/index.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { DoctorFinding } from '../../source/types.js';
import type { SchemaChangeRecord } from '../../targets/types.js';

/**
 * The schema changes database targets are halted at, read from each target's version store, for
 * `outbox status` and `outbox doctor`. Targets whose URL variable is not set in this environment are
 * left out; one that cannot be reached (within 5 s) is reported as not checked.
 */
const CHECK_TIMEOUT_MS = 5_000;
export interface TargetHalts {
  target: string;
  halts: SchemaChangeRecord[];
  /** Why the target could not be checked. */
  unchecked?: string;
}

export async function readTargetHalts(config: Config, logger: Logger): Promise<TargetHalts[]> {
  const { createTargetWriter } = await import('../../targets/index.js');
  const { hasSchemaAdmin } = await import('../../targets/types.js');
  const out: TargetHalts[] = [];
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.kind === 'http') continue;
    let secrets;
    try {
      secrets = config.targetSecrets(name);
    } catch {
      continue; // this environment does not reach the target
    }
    const writer = createTargetWriter(name, target, secrets, logger);
    try {
      if (!hasSchemaAdmin(writer)) continue;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS)));
      try {
        out.push({ target: name, halts: await Promise.race([writer.schemaChanges(['halted']), timeout]) });
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      out.push({ target: name, halts: [], unchecked: describeError(err) });
    } finally {
      await writer.close().catch(() => undefined);
    }
  }
  return out;
}

export function haltFindings(targets: TargetHalts[]): DoctorFinding[] {
  return targets.flatMap((t): DoctorFinding[] =>
    t.unchecked
      ? [{ severity: 'warning', check: 'target-schema', message: `target "${t.target}" was not checked for schema-change halts: ${t.unchecked}` }]
      : t.halts.map((h) => ({ severity: 'error', check: 'target-schema', message: h.reason ?? `target "${t.target}" is halted at a schema change of ${h.sourceTable} (seq ${h.seq})` })),
  );
}
