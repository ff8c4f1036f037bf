import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { OutboxError } from '../../errors.js';

/**
 * Column protection primitives. Encrypted values are self-describing strings,
 *   enc:v1:<keyId>:<iv base64>:<tag base64>:<ciphertext base64>
 * AES-256-GCM with a random 12-byte IV; the plaintext is the JSON text of the value (so a number
 * decrypts to a number); the "enc:v1:<keyId>" prefix is the additional authenticated data, so the key
 * id cannot be swapped. The key id lets a reader hold several keys while keys rotate.
 */
export const ENCRYPTED_PREFIX = 'enc:v1:';
const IV_BYTES = 12;

export function encryptValue(value: unknown, key: Buffer, keyId: string): string {
  if (key.length !== 32) throw new OutboxError('CONFIG_INVALID', `The encryption key must be 32 bytes (AES-256), got ${key.length}.`);
  const iv = randomBytes(IV_BYTES);
  const header = `${ENCRYPTED_PREFIX}${keyId}`;
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(header, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return `${header}:${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ciphertext.toString('base64')}`;
}

export type KeysById = ReadonlyMap<string, Buffer> | Readonly<Record<string, Buffer>>;

/** Reverses encryptValue with the key the value names. Throws TRANSFORM_FAILED on an unknown key id, a wrong key or a tampered value. */
export function decryptValue(value: string, keysById: KeysById): unknown {
  if (!value.startsWith(ENCRYPTED_PREFIX)) throw decryptError('it does not start with "enc:v1:"');
  const parts = value.slice(ENCRYPTED_PREFIX.length).split(':');
  if (parts.length < 4) throw decryptError('it does not have the parts keyId:iv:tag:ciphertext');
  const [ivText, tagText, dataText] = parts.slice(-3) as [string, string, string];
  const keyId = parts.slice(0, -3).join(':');
  const key = keysById instanceof Map ? keysById.get(keyId) : (keysById as Record<string, Buffer>)[keyId];
  if (!key) throw decryptError(`no key is known for key id "${keyId}"`, keyId);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64'));
    decipher.setAAD(Buffer.from(`${ENCRYPTED_PREFIX}${keyId}`, 'utf8'));
    decipher.setAuthTag(Buffer.from(tagText, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(dataText, 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as unknown;
  } catch (err) {
    throw decryptError(`authentication failed (wrong key for key id "${keyId}", or the value was altered)`, keyId, err);
  }
}

function decryptError(why: string, keyId?: string, cause?: unknown): OutboxError {
  return new OutboxError('TRANSFORM_FAILED', `Cannot decrypt the value: ${why}.`, { cause, context: keyId === undefined ? {} : { keyId } });
}

/** Salted, keyed hash: HMAC-SHA256(salt, text) as lowercase hex. Deterministic, so it can be joined on. */
export function hashValue(text: string, salt: string): string {
  return createHmac('sha256', salt).update(text, 'utf8').digest('hex');
}
