import type { MessageAttributeValue } from '@aws-sdk/client-sns';

/**
 * The size SNS counts for a message: UTF-8 bytes of the body plus, for each message attribute, the
 * bytes of its name, its data type and its value. Entry ids, group and deduplication ids do not count.
 */
export function messageBytes(body: string, attributes: Record<string, MessageAttributeValue>): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8');
    if (value.StringValue !== undefined) bytes += Buffer.byteLength(value.StringValue, 'utf8');
    if (value.BinaryValue !== undefined) bytes += value.BinaryValue.byteLength;
  }
  return bytes;
}
