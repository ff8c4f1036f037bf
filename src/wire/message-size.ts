/** A message attribute as SNS and SQS both take it (their SDK types have this shape in common). */
export interface SizedAttribute {
  DataType?: string | undefined;
  StringValue?: string | undefined;
  BinaryValue?: Uint8Array | undefined;
}

/**
 * The size SNS and SQS count for a message: UTF-8 bytes of the body plus, for each message attribute,
 * the bytes of its name, its data type and its value. Entry ids, group and deduplication ids do not count.
 */
export function messageBytes(body: string, attributes: Readonly<Record<string, SizedAttribute>>): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8');
    if (value.StringValue !== undefined) bytes += Buffer.byteLength(value.StringValue, 'utf8');
    if (value.BinaryValue !== undefined) bytes += value.BinaryValue.byteLength;
  }
  return bytes;
}
