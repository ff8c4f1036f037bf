/**
 * The bare emulator path of bench/e2e-latency.ts, as its own processes: PublishBatch → SNS → SQS →
 * receive → delete, nothing else. Forked by the bench with a role:
 *
 *   publish <endpoint> <topicArn> <entry.json> <concurrency>
 *       on { rate, seconds }: creates messages at `rate`/s for `seconds` and sends what is pending in
 *       PublishBatch calls of up to 10 (`concurrency` in flight), like a relay with no database
 *       (publishAt); replies { sent, seconds } (seconds: when the last message was taken to be
 *       sent). Each body is the given entry's, with its creation time (ms) in front.
 *   consume <endpoint> <queueUrl> <loops> <waitSeconds>
 *       `loops` receive loops (10 a call, long polls) that delete what they receive; on 'report'
 *       replies { latencies } (creation → received, ms) since the last report.
 */
import { PublishBatchCommand, SNSClient, type PublishBatchRequestEntry } from '@aws-sdk/client-sns';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { pathToFileURL } from 'node:url';
import { withoutSdkLogging } from '../../src/aws/clients.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
process.removeAllListeners('warning'); // the SDK's Node 22 notice

export interface PublishRequest {
  rate: number;
  seconds: number;
}

/** The body: "<created ms> " then the pipeline's envelope, so sizes match within a few bytes. */
function stamped(created: number, body: string): string {
  return `${created.toFixed(1)} ${body}`;
}

export interface PublishResult {
  sent: number;
  /** When the last message was taken to be sent, s after the start. */
  seconds: number;
  /** Creation → PublishBatch acknowledged, ms, per message sent. */
  latencies: number[];
}

/**
 * Creates messages at `rate`/s for `seconds` and sends what is pending in PublishBatch calls of up
 * to 10, `concurrency` in flight: a relay with no database. Also used in-process by
 * bench/relay-latency.ts as its baseline.
 */
export async function publishAt(sns: SNSClient, topicArn: string, entry: PublishBatchRequestEntry, concurrency: number, req: PublishRequest): Promise<PublishResult> {
  const start = performance.now();
  const total = Math.round(req.rate * req.seconds);
  let taken = 0;
  let sent = 0;
  let lastTaken = 0;
  const latencies: number[] = [];
  const due = (n: number) => start + (n * 1000) / req.rate;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (taken < total) {
        const now = performance.now();
        const created = Math.min(total, Math.floor(((now - start) * req.rate) / 1000) + 1);
        if (created <= taken) {
          await new Promise((r) => setTimeout(r, Math.max(1, due(taken) - now)));
          continue;
        }
        const from = taken;
        taken = Math.min(created, from + 10);
        if (taken === total) lastTaken = performance.now() - start;
        const entries = Array.from({ length: taken - from }, (_, k) => ({ ...entry, Id: String(k), Message: stamped(performance.timeOrigin + due(from + k), entry.Message!) }));
        const reply = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }));
        const acked = performance.now();
        for (const s of reply.Successful ?? []) latencies.push(acked - due(from + Number(s.Id)));
        sent += reply.Successful?.length ?? 0;
      }
    }),
  );
  return { sent, seconds: lastTaken / 1000, latencies };
}

async function publishRole(endpoint: string, topicArn: string, entryFile: string, concurrency: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const entry = JSON.parse(readFileSync(entryFile, 'utf8')) as PublishBatchRequestEntry;
  const sns = withoutSdkLogging(new SNSClient({ region: 'us-east-1', endpoint, credentials }));
  process.on('message', (req: PublishRequest) => {
    void publishAt(sns, topicArn, entry, concurrency, req).then(({ sent, seconds }) => process.send!({ sent, seconds }));
  });
}

async function consumeRole(endpoint: string, queueUrl: string, loops: number, waitSeconds: number): Promise<void> {
  const sqs = withoutSdkLogging(new SQSClient({ region: 'us-east-1', endpoint, credentials }));
  let latencies: number[] = [];
  let stopping = false;
  process.on('message', (msg: string) => {
    if (msg === 'report') {
      process.send!({ latencies });
      latencies = [];
    } else if (msg === 'stop') stopping = true;
  });
  process.on('disconnect', () => process.exit(0));
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!stopping) {
        const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, MessageAttributeNames: ['All'] }));
        const messages = res.Messages ?? [];
        if (messages.length === 0) continue;
        const now = performance.timeOrigin + performance.now();
        for (const m of messages) latencies.push(now - Number(m.Body!.slice(0, m.Body!.indexOf(' '))));
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    }),
  );
  process.exit(0);
}

// Roles only when forked as this file (bench/relay-latency.ts imports publishAt).
const [role, ...rest] = process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href ? process.argv.slice(2) : [];
if (role === 'publish') await publishRole(rest[0]!, rest[1]!, rest[2]!, Number(rest[3]));
else if (role === 'consume') await consumeRole(rest[0]!, rest[1]!, Number(rest[2]), Number(rest[3]));
