/**
 * Checks that span settings: a topic a target or a route names, a mapping of a table the target does
 * not list, an encryption key. They read the document leniently (as written, defaults filled in), so
 * they run in the same pass as the schema: a file with problems of both kinds lists them all at once.
 */
export interface Problem {
  path: (string | number)[];
  message: string;
  /** The value at fault, shown as "got …"; undefined shows "missing". */
  value?: unknown;
  /** Show no "got"/"missing" part (the message says it all). */
  bare?: boolean;
}

type Doc = Record<string, unknown>;

const isObject = (value: unknown): value is Doc => value !== null && typeof value === 'object' && !Array.isArray(value);
const objectAt = (value: unknown): Doc => (isObject(value) ? value : {});

export function crossCheck(doc: Doc, env: NodeJS.ProcessEnv): Problem[] {
  const problems: Problem[] = [];
  const publish = objectAt(doc.publish);
  const topics = publish.topics === undefined ? { default: {} } : objectAt(publish.topics);
  const known = Object.keys(topics);
  const listed = known.length ? known.map((k) => `"${k}"`).join(', ') : 'none';
  const defaultTopic = typeof publish.defaultTopic === 'string' ? publish.defaultTopic : 'default';
  if (!(defaultTopic in topics)) {
    problems.push({ path: ['publish', 'defaultTopic'], message: `names topic "${defaultTopic}", which publish.topics does not define (it defines ${listed})`, bare: true });
  }
  for (const [table, topic] of Object.entries(objectAt(publish.routes))) {
    if (typeof topic === 'string' && !(topic in topics)) problems.push({ path: ['publish', 'routes', table], message: `names topic "${topic}", which publish.topics does not define (it defines ${listed})`, bare: true });
  }

  for (const [name, raw] of Object.entries(objectAt(doc.targets))) {
    if (!isObject(raw)) continue;
    const topic = typeof raw.topic === 'string' ? raw.topic : 'default';
    if (!(topic in topics)) problems.push({ path: ['targets', name, 'topic'], message: `names topic "${topic}", which publish.topics does not define (it defines ${listed})`, bare: true });
    if (raw.urlEnv === undefined && raw.kind !== 'dynamodb' && raw.kind !== undefined) {
      problems.push({ path: ['targets', name, 'urlEnv'], message: `is required for a ${String(raw.kind)} target: name the environment variable that holds its URL`, bare: true });
    }
    if (raw.dynamodb !== undefined && raw.kind !== 'dynamodb') problems.push({ path: ['targets', name, 'dynamodb'], message: `applies to dynamodb targets only (this one is ${String(raw.kind)})`, bare: true });
    if (raw.kind === 'http' && raw.schemaChanges === 'stop') {
      problems.push({ path: ['targets', name, 'schemaChanges'], message: 'is "stop", which an http target cannot hold (it has no version store to remember the halt): use "apply" (each schema change is POSTed to the endpoint) or "ignore"', bare: true });
    }
    if (raw.kind === 'dynamodb' && raw.schemaChanges === 'stop') {
      problems.push({ path: ['targets', name, 'schemaChanges'], message: 'is "stop", but a dynamodb target is schemaless and acknowledges schema changes without work (docs/dynamodb.md): remove it', bare: true });
    }
    if ((raw.kind === 'http' || raw.kind === 'dynamodb') && raw.droppedColumns !== undefined) {
      problems.push({ path: ['targets', name, 'droppedColumns'], message: `applies to PostgreSQL and MySQL targets only (a${raw.kind === 'http' ? 'n http target receives the schema change and decides itself' : ' dynamodb item has no columns to drop'}): remove it`, bare: true });
    }
    if ((raw.kind === 'http' || raw.kind === 'dynamodb') && raw.lockWaitTimeoutSec !== undefined) {
      problems.push({ path: ['targets', name, 'lockWaitTimeoutSec'], message: `applies to PostgreSQL and MySQL targets only (a${raw.kind === 'http' ? 'n http' : ' dynamodb'} target takes no row locks): remove it`, bare: true });
    }
    if (raw.kind === 'http' && raw.http === undefined) problems.push({ path: ['targets', name, 'http'], message: 'is required for an http target: give at least { timeoutMs: 5000 }', bare: true });
    const tables = Array.isArray(raw.tables) ? raw.tables.map(String) : undefined;
    const mapping = objectAt(raw.mapping);
    for (const table of Object.keys(mapping)) {
      if (tables && !tables.includes(table)) problems.push({ path: ['targets', name, 'mapping', table], message: `maps table "${table}", which targets.${name}.tables does not list`, bare: true });
    }
    const encrypts = Object.values(mapping).some((m) => isObject(m) && Array.isArray(m.encrypt) && m.encrypt.length > 0);
    const encryption = raw.encryption;
    if (encrypts && encryption === undefined) {
      problems.push({ path: ['targets', name, 'encryption'], message: 'is required because a mapping encrypts columns: give { keyEnv: VARIABLE, keyId: id }', bare: true });
    }
    if (encrypts && isObject(encryption) && typeof encryption.keyEnv === 'string') {
      const key = env[encryption.keyEnv];
      const bytes = key === undefined ? undefined : Buffer.from(key, 'base64').length;
      if (bytes !== undefined && bytes !== 32) {
        problems.push({ path: ['targets', name, 'encryption', 'keyEnv'], message: `${encryption.keyEnv} must hold a base64-encoded 32-byte key (it holds ${bytes} bytes); make one with: openssl rand -base64 32`, bare: true });
      }
    }
  }
  return problems;
}
