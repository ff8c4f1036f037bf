import { randomBytes } from 'node:crypto';

/**
 * Every object the demo creates carries one run id, so a demo never touches a user's own tables or
 * outbox, two demos on one server do not collide, and cleanup knows exactly what to remove.
 */
export interface DemoNames {
  runId: string;
  /** Source schema of the demo tables. */
  dataSchema: string;
  /** The demo's own outbox schema. */
  outboxSchema: string;
  /** Database created for the target when the server allows it. */
  targetDatabase: string;
  /** Target schema holding the copies (in the target database, or in the source database as a fallback). */
  targetSchema: string;
  /** Target schema of the version store. */
  stateSchema: string;
  /** Target name in the demo config (also names its queues). */
  target: string;
  topic: string;
  queue: string;
  redisPrefix: string;
  sourceName: string;
}

export function demoNames(runId = randomBytes(3).toString('hex')): DemoNames {
  return {
    runId,
    dataSchema: `demo_${runId}`,
    outboxSchema: `outbox_demo_${runId}`,
    targetDatabase: `outbox_demo_target_${runId}`,
    targetSchema: `demo_${runId}_copy`,
    stateSchema: `outbox_demo_${runId}_state`,
    target: 'demo',
    topic: `outbox-demo-${runId}`,
    queue: `outbox-demo-${runId}`,
    redisPrefix: `outbox-demo-${runId}`,
    sourceName: `outbox-demo-${runId}`,
  };
}

/** The demo's tables, as `schema.table` in the source. */
export function demoTables(names: DemoNames): { customers: string; orders: string } {
  return { customers: `${names.dataSchema}.customers`, orders: `${names.dataSchema}.orders` };
}
