import type pg from 'pg';
import type { Config } from '../config/index.js';
import type { Consumer } from '../consumer/index.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RelayProcess } from '../relay/start.js';
import type { SourceAdapter } from '../source/index.js';
import type { TargetWriter } from '../targets/index.js';
import type { DemoAws } from './aws.js';
import type { DemoNames } from './names.js';
import { dropSchema } from './tables.js';
import type { DemoTargetDatabase } from './target-database.js';

/** Everything the demo opened, closed in reverse order whatever happened. */
export interface Opened {
  pool?: pg.Pool;
  target?: DemoTargetDatabase;
  aws?: DemoAws;
  config?: Config;
  source?: SourceAdapter;
  writer?: TargetWriter;
  relay?: RelayProcess;
  consumer?: { consumer: Consumer; done: Promise<void> };
  clients?: ReturnType<DemoAws['clients']>;
  createdSchemas: boolean;
}

/** Stops the processes, then removes what the demo created (unless keep); a failed step is logged and the rest still runs. */
export async function cleanUp(opened: Opened, names: DemoNames, keep: boolean, logger: Logger): Promise<void> {
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      logger.warn({ err: describeError(err), what }, 'demo cleanup step failed');
    }
  };
  if (opened.consumer) {
    const { consumer, done } = opened.consumer;
    await attempt('stop the consumer', async () => {
      await consumer.stop();
      await done;
    });
  }
  if (opened.relay) await attempt('stop the relay', () => opened.relay!.close());
  if (opened.writer) await attempt('close the target writer', () => opened.writer!.close());
  if (opened.aws) await attempt('remove the SNS/SQS resources', () => opened.aws!.close(opened.config, { keepResources: keep }));
  opened.clients?.sns.destroy();
  opened.clients?.sqs.destroy();
  if (opened.source) await attempt('close the source', () => opened.source!.close());
  if (opened.target) await attempt('remove the target', () => (keep ? opened.target!.pool.end() : opened.target!.remove()));
  if (opened.pool) {
    if (!keep && opened.createdSchemas) {
      await attempt('drop the demo schemas', async () => {
        await dropSchema(opened.pool!, names.dataSchema);
        await dropSchema(opened.pool!, names.outboxSchema);
      });
    }
    await attempt('close the source pool', () => opened.pool!.end());
  }
}
