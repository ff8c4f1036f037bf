import { z } from 'zod';
import { IDENTIFIER_PATTERN, QUALIFIED_TABLE_PATTERN } from '../sql/identifiers.js';
import { CHANGE_OPERATIONS } from '../wire/operations.js';

/**
 * The shape of outbox.config.yaml. Every setting has a default where a sensible one exists; the
 * example config in the repository root documents each of them.
 */

const identifier = z.string().regex(IDENTIFIER_PATTERN, 'must be a plain SQL identifier: letters, digits and _, starting with a letter or _, at most 63 characters');
const qualifiedTable = z.string().regex(QUALIFIED_TABLE_PATTERN, 'must be "schema.table" made of plain SQL identifiers');
const durationMs = z.number().int().positive();

export const operationSchema = z.enum(CHANGE_OPERATIONS);

const breakerSchema = z
  .object({
    timeoutMs: durationMs.default(10_000),
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    resetTimeoutMs: durationMs.default(10_000),
    volumeThreshold: z.number().int().min(0).default(5),
    rollingCountTimeoutMs: durationMs.default(10_000),
  })
  .strict();

export const sourceSchema = z
  .object({
    dialect: z.enum(['postgres', 'sqlserver']).default('postgres'),
    url: z.string({ error: 'is required (or set OUTBOX_SOURCE_URL)' }).min(1, 'is required (or set OUTBOX_SOURCE_URL)'),
    /** Schema that holds the outbox objects (ledger, events, tracker). */
    schema: identifier.default('outbox'),
    /** Names this source in events (CloudEvents `source`, the `source` message attribute). */
    name: z.string().min(1).max(100).regex(/^[A-Za-z0-9._:/-]+$/, 'may hold letters, digits and . _ : / -').default('outbox-relay'),
    poolSize: z.number().int().min(1).max(100).default(5),
    /**
     * PostgreSQL: whether `outbox migrate` installs the optional DDL event triggers where the role
     * may (install), or never, dropping installed ones (skip). docs/capture.md, "Event triggers".
     */
    eventTriggers: z.enum(['install', 'skip']).default('install'),
  })
  .strict();

export const redisSchema = z
  .object({
    /** One URL, or several independent nodes for a redlock quorum. */
    urls: z.array(z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')).min(1).default(['redis://127.0.0.1:6379']),
    keyPrefix: z.string().min(1).regex(/^[A-Za-z0-9:._-]+$/).default('outbox-relay'),
    commandTimeoutMs: durationMs.default(1_000),
  })
  .strict();

/** relay.readBatchBytes's default: pages of at most 4 MiB of images. */
export const DEFAULT_PAGE_BYTES = 4 * 1024 * 1024;

export const relaySchema = z
  .object({
    lockTtlMs: durationMs.min(1_000).default(10_000),
    /** Renew the lock when this fraction of the TTL is left; must leave room for a slow Redis. */
    renewAtFraction: z.number().gt(0).lt(1).default(0.5),
    pollIntervalMs: durationMs.default(500),
    readBatchSize: z.number().int().min(1).max(10_000).default(1_000),
    /**
     * A page also ends at the row that takes its images past this many bytes (the first row always
     * comes), so wide rows do not multiply what the relay holds: docs/operations.md, "Relay memory".
     */
    readBatchBytes: z.number().int().min(1_024).max(1_073_741_824).default(DEFAULT_PAGE_BYTES),
    publishConcurrency: z.number().int().min(1).max(64).default(8),
    /**
     * Publish the next page while the last calls of a page are in flight (docs/architecture.md, "The
     * relay loop"). false publishes one page at a time: after a publish that fails in part, only the
     * rest of that page is published again rather than also what went out of the next page.
     */
    pageOverlap: z.boolean().default(true),
    /** Published events are kept at least this long, so they can be replayed. */
    retentionMinutes: z.number().int().min(1).default(24 * 60),
    metricsPort: z.number().int().min(0).max(65535).optional(),
    breaker: breakerSchema.default(breakerSchema.parse({})),
  })
  .strict();

const topicSchema = z
  .object({
    /** Topic name (created if missing) or full ARN. A name ending in .fifo makes a FIFO topic. */
    name: z.string().regex(/^[A-Za-z0-9_-]{1,256}(\.fifo)?$/, 'must be 1-256 letters, digits, - or _, optionally ending in .fifo').optional(),
    arn: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/, 'must be an SNS topic ARN').optional(),
  })
  .strict()
  .refine((t) => Boolean(t.name) !== Boolean(t.arn), { message: 'give exactly one of name or arn' });

export const publishSchema = z
  .object({
    topics: z.record(identifier, topicSchema).default({ default: { name: 'outbox-events' } }),
    defaultTopic: identifier.default('default'),
    /** Table → topic key in `topics`. Tables not listed go to defaultTopic. */
    routes: z.record(qualifiedTable, identifier).default({}),
    /**
     * Attribute columns published with DataType Number, per table: SNS applies numeric conditions
     * ({"numeric": [...]}, exact numbers) to Number attributes only. Other attribute columns are String.
     */
    numberAttributes: z.record(qualifiedTable, z.array(identifier)).default({}),
    claimCheck: z
      .object({ bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'), prefix: z.string().default('outbox-relay/') })
      .strict()
      .optional(),
  })
  .strict();

export type PublishConfig = z.infer<typeof publishSchema>;

/** The /metrics, /healthz and /readyz server of relay, consume and backfill (the port is per process). */
export const metricsSchema = z
  .object({
    /** 127.0.0.1 keeps it on this machine; the container image sets 0.0.0.0 (OUTBOX_METRICS_HOST) so probes and Prometheus reach it. */
    host: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'must be a host name or an IP address, such as 127.0.0.1 or 0.0.0.0').default('127.0.0.1'),
  })
  .strict();

export const awsSchema = z
  .object({
    region: z.string().min(1).optional(),
    endpoint: z.string().url().optional(),
    /**
     * Run the relay's SNS client and a consumer's SQS client on a worker thread of their own, so the
     * SDK's work (request building, signing, the wire protocol, sockets) uses another core than the
     * relay's read and envelopes or the consumer's parse, transform and apply. Default false: the
     * SDK on the process's main thread (docs/operations.md says when to turn it on).
     */
    sdkThread: z.boolean().default(false),
  })
  .strict();

const maskSchema = z.union([z.literal('full'), z.object({ keepLast: z.number().int().min(0).max(64), char: z.string().length(1).default('*') }).strict()], {
  error: 'must be "full" or { keepLast: N } (N from 0 to 64, optionally char: "*")',
});

export const tableMappingSchema = z
  .object({
    /** Target table name (schema.table or table). Default: the source table name. */
    table: z.string().regex(/^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/).optional(),
    rename: z.record(identifier, identifier).default({}),
    include: z.array(identifier).optional(),
    exclude: z.array(identifier).default([]),
    mask: z.record(identifier, maskSchema).default({}),
    hash: z.array(identifier).default([]),
    encrypt: z.array(identifier).default([]),
    convert: z.record(identifier, z.enum(['string', 'number', 'boolean', 'timestamp-ms', 'iso-date', 'lowercase', 'uppercase', 'trim'])).default({}),
    /**
     * Columns the mapping does not name (with `include`: columns outside it). pass copies them, drop
     * removes them, quarantine fails the message (it goes to the DLQ). Default: drop when `include` is
     * given, pass otherwise. See docs/targets.md.
     */
    unknownColumns: z.enum(['pass', 'drop', 'quarantine']).optional(),
    /** What a truncate event does at the target. */
    onTruncate: z.enum(['clear', 'ignore']).default('clear'),
    /**
     * A JavaScript module (path relative to the config file) whose exported function maps each
     * transformed change to rows of the target, after the built-in transforms (docs/transforms.md).
     */
    transform: z
      .string()
      .min(1)
      .regex(/\.(m?js|cjs|m?ts)$/, 'must be a path to a .js, .mjs, .cjs, .ts or .mts module')
      .refine((p) => !p.includes('\0'), 'must not hold a NUL character')
      .optional(),
  })
  .strict();
export type TableMapping = z.infer<typeof tableMappingSchema>;

/** Settings of a dynamodb target (docs/dynamodb.md). */
export const dynamodbSchema = z
  .object({
    /** Conditional writes one batch has in flight at once. */
    concurrency: z.number().int().min(1).max(256).default(16),
    /** Attempts of one write on throttling (ProvisionedThroughputExceeded, ThrottlingException…), with backoff. */
    maxAttempts: z.number().int().min(1).max(50).default(10),
    /** The item attribute holding a tombstone's expiry (epoch seconds), for the table's Time to Live. */
    ttlAttribute: identifier.default('outbox_expires_at'),
    /** The table holding truncate markers (created by `outbox target init`). */
    stateTable: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name: 3-255 letters, digits, _ . -').default('outbox_target_state'),
    /**
     * DynamoDB types of item attributes that the event encodes as text, per source table, by target
     * column name: number (bigint, numeric: an exact N), binary (bytea: B), string (S, the default).
     */
    attributeTypes: z.record(qualifiedTable, z.record(identifier, z.enum(['number', 'binary', 'string']))).default({}),
  })
  .strict();
export type DynamodbConfig = z.infer<typeof dynamodbSchema>;

/**
 * queue.applyConcurrency when the config does not set it: measured with bench/consumer-throughput.ts
 * (bench/README.md, "Concurrent writer calls").
 */
export const DEFAULT_APPLY_CONCURRENCY = 2;

export const targetSchema = z
  .object({
    kind: z.enum(['postgres', 'mysql', 'http', 'dynamodb']),
    /**
     * Environment variable that holds the target's connection URL or endpoint URL. Required except for
     * dynamodb, whose endpoint comes from the AWS SDK chain (AWS_ENDPOINT_URL_DYNAMODB,
     * AWS_ENDPOINT_URL) unless this names a variable holding one.
     */
    urlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must name an environment variable').optional(),
    topic: identifier.default('default'),
    tables: z.array(qualifiedTable).min(1),
    operations: z.array(operationSchema).default([...CHANGE_OPERATIONS]),
    /** Attribute conditions: attribute column → allowed values. */
    where: z.record(identifier, z.array(z.union([z.string(), z.number()], { error: 'must be a string or a number' })).min(1)).default({}),
    /** A raw SNS filter policy; replaces the one built from tables/operations/where. */
    filterPolicy: z.record(z.string(), z.unknown()).optional(),
    queue: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9_-]{1,75}(\.fifo)?$/).optional(),
        maxReceiveCount: z.number().int().min(1).max(1000).default(5),
        visibilityTimeoutSec: z.number().int().min(5).max(43_200).default(60),
        waitTimeSec: z.number().int().min(0).max(20).default(10),
        batchSize: z.number().int().min(1).max(10).default(10),
        /** Receive-apply loops one consumer process runs at once; their batches go to the target in the writer calls below. */
        concurrency: z.number().int().min(1).max(32).default(4),
        /**
         * Database targets: writer calls one consumer process has under way at once, each its own
         * transaction on its own connection; batches that arrive while that many run share the next
         * call (docs/targets.md, "Concurrent writer calls"). At most queue.concurrency; unset,
         * DEFAULT_APPLY_CONCURRENCY or queue.concurrency when that is lower.
         */
        applyConcurrency: z.number().int().min(1).max(32).optional(),
      })
      .strict()
      .refine((q) => q.applyConcurrency === undefined || q.applyConcurrency <= q.concurrency, {
        path: ['applyConcurrency'],
        message: 'must be at most queue.concurrency: a consumer has at most one batch per receive loop to apply; lower queue.applyConcurrency or raise queue.concurrency',
      })
      .transform((q) => ({ ...q, applyConcurrency: q.applyConcurrency ?? Math.min(DEFAULT_APPLY_CONCURRENCY, q.concurrency) }))
      .default({ maxReceiveCount: 5, visibilityTimeoutSec: 60, waitTimeSec: 10, batchSize: 10, concurrency: 4, applyConcurrency: DEFAULT_APPLY_CONCURRENCY }),
    mapping: z.record(qualifiedTable, tableMappingSchema).default({}),
    /** Schema at the target that holds the version store (database targets). */
    stateSchema: identifier.default('outbox_target'),
    tombstoneRetentionHours: z.number().int().min(1).default(7 * 24),
    /**
     * Database targets: how long a row statement of the writer waits for a lock another session holds
     * before the server ends it (PostgreSQL lock_timeout, MySQL/MariaDB innodb_lock_wait_timeout, set
     * for the writer's sessions); the writer then runs the row transaction again (docs/targets.md,
     * "Several consumers of one target"). Unset: the server's own setting.
     */
    lockWaitTimeoutSec: z.number().int().min(1).max(3600).optional(),
    http: z
      .object({
        secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
        timeoutMs: durationMs.default(5_000),
        headers: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .optional(),
    dynamodb: dynamodbSchema.optional(),
    /** Environment variable holding the AES-256 key (base64, 32 bytes) and its id for rotation. */
    encryption: z.object({ keyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/), keyId: z.string().min(1).max(64) }).strict().optional(),
    /** Environment variable holding the salt for hashed columns. */
    hashSaltEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
    breaker: breakerSchema.default(breakerSchema.parse({})),
    metricsPort: z.number().int().min(0).max(65535).optional(),
    /**
     * What a schema change of a source table does here (docs/schema-changes.md, "At the targets"):
     * apply it (database targets run the DDL; http targets receive it as a POST), ignore it, or stop
     * the target until an operator resumes it. Default apply: nothing is lost and nothing waits.
     */
    schemaChanges: z.enum(['apply', 'ignore', 'stop']).default('apply'),
    /** Under schemaChanges apply: a column dropped at the source is kept (made nullable, values stay) or dropped at the target. */
    droppedColumns: z.enum(['keep', 'drop']).default('keep'),
  })
  .strict();
export type TargetConfig = z.infer<typeof targetSchema>;

/**
 * The whole file. Checks across sections (a topic a target names, a mapping of an unlisted table…)
 * live in config/cross-checks.ts, so they run even when this schema finds problems elsewhere.
 */
export const configSchema = z
  .object({
    source: sourceSchema,
    redis: redisSchema.default(redisSchema.parse({})),
    relay: relaySchema.default(relaySchema.parse({})),
    publish: publishSchema.default(publishSchema.parse({})),
    aws: awsSchema.default(awsSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    targets: z.record(identifier, targetSchema).default({}),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).strict().default({ level: 'info' }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // Checks that need the parsed config; the others are in config/cross-checks.ts (same pass as the schema).
    for (const [name, target] of Object.entries(cfg.targets)) {
      for (const [column, values] of Object.entries(target.where)) {
        const numeric = target.tables.some((t) => cfg.publish.numberAttributes[t]?.includes(column));
        const bad = values.filter((v) => numeric && !Number.isFinite(Number(v)));
        if (bad.length > 0) {
          ctx.addIssue({ code: 'custom', path: ['targets', name, 'where', column], message: `lists ${bad.map((v) => JSON.stringify(v)).join(', ')}, but ${column} is published as a Number attribute (publish.numberAttributes): give numbers` });
        }
      }
    }
    for (const problem of sharedTableProblems(cfg.targets)) ctx.addIssue({ code: 'custom', path: ['targets', problem.target, 'stateSchema'], message: problem.message });
  });

export type RawConfig = z.infer<typeof configSchema>;

/**
 * Names the table a target writes for a source table (kind, URL variable, mapped table), so targets
 * that write the same one can be found: equal strings, same table.
 */
export function writtenTable(target: Pick<z.infer<typeof targetSchema>, 'kind' | 'urlEnv' | 'mapping'>, sourceTable: string): string {
  const mapped = target.mapping[sourceTable]?.table ?? sourceTable;
  const qualified = target.kind === 'postgres' && !mapped.includes('.') ? `public.${mapped}` : mapped;
  return `${target.kind}\0${target.urlEnv}\0${qualified}`;
}

/**
 * Targets that write the same table of the same database must share one version store: a row moving
 * from one's share to the other's is a delete for the first and an upsert for the second with the
 * same seq, and only a shared version guard orders the two (docs/targets.md, "Shares").
 */
function sharedTableProblems(targets: Record<string, z.infer<typeof targetSchema>>): { target: string; message: string }[] {
  const writers = new Map<string, { target: string; stateSchema: string }>();
  const problems: { target: string; message: string }[] = [];
  for (const [name, target] of Object.entries(targets)) {
    // http has no version store; a dynamodb item holds its own version, so writers share it anyway
    if (target.kind === 'http' || target.kind === 'dynamodb') continue;
    for (const table of target.tables) {
      const written = writtenTable(target, table);
      const other = writers.get(written);
      if (!other) writers.set(written, { target: name, stateSchema: target.stateSchema });
      else if (other.stateSchema !== target.stateSchema) {
        problems.push({ target: name, message: `is "${target.stateSchema}", but target "${other.target}" writes the same table (${target.mapping[table]?.table ?? table} via ${target.urlEnv}) with stateSchema "${other.stateSchema}": targets that write one table must share one version store` });
      }
    }
  }
  return problems;
}
