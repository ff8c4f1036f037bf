import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createConsumerSqsClient } from '../../src/aws/clients.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { openConsumer, type Consumer } from '../../src/consumer/index.js';
import { applySubscription, planSubscription } from '../../src/subscriptions/index.js';
import { createLogger, silentLogger, type Logger } from '../../src/logger.js';
import type { Metrics } from '../../src/observability/metrics.js';
import { startRelay, type RelayProcess } from '../../src/relay/start.js';
import { buildTargetTransform } from '../../src/targets/user-transform.js';
import { buildTransformer, createTargetWriter, type TargetWriter } from '../../src/targets/index.js';
import { MYSQL_URL } from './env.js';

const AWS = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

/** Puts the SDK's default-chain credentials in place for in-process relays and consumers. */
export function useEmulatorCredentials(): void {
  Object.assign(process.env, AWS);
}

export function pipelineConfig(doc: Record<string, unknown>, env: Record<string, string>): Config {
  return parseConfig(structuredClone(doc), { ...AWS, ...env }, 'pipeline-test');
}

/** A MariaDB database for one test; drop() removes it. */
export async function createMysqlDatabase(): Promise<{ name: string; url: string; conn: mysql.Connection; drop(): Promise<void> }> {
  const name = `outbox_e2e_${randomBytes(4).toString('hex')}`;
  const conn = await mysql.createConnection({ uri: MYSQL_URL, timezone: 'Z', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, charset: 'utf8mb4' });
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await conn.query(`USE \`${name}\``);
  await conn.query(`SET time_zone = '+00:00'`);
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    conn,
    async drop() {
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

export interface RunningTarget {
  name: string;
  writer: TargetWriter;
  consumer: Consumer;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Subscribes a configured target (queue, DLQ, filter policy), initialises it and starts its consumer. */
/** What the running parts log, kept (warn and above) so a test can print it when it fails. */
export function logCapture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
      done();
    },
  });
  return { logger: createLogger('warn', sink), lines };
}

export async function startTarget(config: Config, name: string, options: { metrics?: Metrics; logger?: Logger } = {}): Promise<RunningTarget> {
  const sns = new SNSClient({ region: config.aws.region, endpoint: config.aws.endpoint });
  const admin = new SQSClient({ region: config.aws.region, endpoint: config.aws.endpoint });
  const s3 = new S3Client({ region: config.aws.region, endpoint: config.aws.endpoint, forcePathStyle: true });
  await applySubscription(planSubscription(config, name), sns, admin);
  sns.destroy();
  admin.destroy();
  // as `outbox consume` does: the SDK on a worker thread when aws.sdkThread is true
  const sqs = createConsumerSqsClient(config);
  const target = config.targets[name]!;
  const secrets = config.targetSecrets(name);
  const writer = createTargetWriter(name, target, secrets, options.logger ?? silentLogger, { region: config.aws.region });
  const problems = await writer.init(target.kind === 'dynamodb' ? { create: true } : {});
  if (problems.length > 0) throw new Error(`target ${name} init: ${problems.join('; ')}`);
  const consumer = await openConsumer(config, name, { sqs, s3, writer, transform: await buildTargetTransform(name, target, buildTransformer(name, target, secrets)), logger: options.logger ?? silentLogger, ...(options.metrics ? { metrics: options.metrics } : {}) });
  const done = consumer.start();
  return {
    name,
    writer,
    consumer,
    done,
    async stop() {
      await consumer.stop();
      await done;
      await writer.close();
      sqs.destroy();
      s3.destroy();
    },
  };
}

export async function startPipelineRelay(config: Config, instanceId = 'e2e-relay', logger: Logger = silentLogger): Promise<RelayProcess> {
  return startRelay({ config, logger, instanceId });
}
