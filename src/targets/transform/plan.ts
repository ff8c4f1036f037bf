import type { TableMapping, TargetConfig } from '../../config/index.js';
import type { TargetSecrets } from '../../config/index.js';
import type { Conversion, MaskRule } from './values.js';

/**
 * A table mapping compiled once, at start: which columns are known, what happens to each, and the
 * problems that make the mapping unusable (reported all at once, naming the setting).
 *
 * Known columns: with `include`, the included and excluded ones; without it, every column the mapping
 * names (exclude, rename, mask, hash, encrypt, convert). Key columns are always kept. Any other column
 * is unknown and follows `unknownColumns` (default drop with `include`, pass without).
 */
export type Protection = { kind: 'mask'; rule: MaskRule } | { kind: 'hash' } | { kind: 'encrypt' };

export interface ColumnRule {
  /** Target column name (after rename). */
  target: string;
  convert?: Conversion;
  protect?: Protection;
}

export interface TablePlan {
  sourceTable: string;
  targetTable: string;
  excluded: ReadonlySet<string>;
  /** Columns the mapping knows and keeps (include, or every named column when include is absent). */
  known: ReadonlySet<string>;
  hasInclude: boolean;
  unknownColumns: 'pass' | 'drop' | 'quarantine';
  onTruncate: 'clear' | 'ignore';
  rules: ReadonlyMap<string, ColumnRule>;
}

export interface PlanInput {
  targetName: string;
  sourceTable: string;
  mapping: TableMapping;
  target: TargetConfig;
  secrets: Pick<TargetSecrets, 'hashSalt' | 'encryptionKey'>;
  /** Source key columns, when known (from the source catalog): lets mistakes on keys be refused up front. */
  keyColumns?: readonly string[];
}

export function compileTablePlan(input: PlanInput): { plan: TablePlan; problems: string[] } {
  const { mapping, sourceTable, targetName } = input;
  const at = `targets.${targetName}.mapping.${sourceTable}`;
  const problems: string[] = [];
  const protections = new Map<string, Protection>();
  const protect = (column: string, p: Protection, setting: string) => {
    const earlier = protections.get(column);
    if (earlier) problems.push(`${at}.${setting}: column "${column}" is already in ${earlier.kind}; a column takes one of mask, hash or encrypt`);
    else protections.set(column, p);
  };
  for (const [column, rule] of Object.entries(mapping.mask)) protect(column, { kind: 'mask', rule }, 'mask');
  for (const column of mapping.hash) protect(column, { kind: 'hash' }, 'hash');
  for (const column of mapping.encrypt) protect(column, { kind: 'encrypt' }, 'encrypt');

  const named = new Set<string>([...Object.keys(mapping.rename), ...protections.keys(), ...Object.keys(mapping.convert)]);
  const excluded = new Set(mapping.exclude);
  for (const column of named) {
    if (excluded.has(column)) problems.push(`${at}.exclude: column "${column}" is excluded but also renamed, converted or protected; remove one of the two`);
  }
  const include = mapping.include ? new Set(mapping.include) : undefined;
  if (include) {
    for (const column of named) {
      if (!include.has(column) && !excluded.has(column)) problems.push(`${at}.include: does not list column "${column}", which the mapping renames, converts or protects; add it to include`);
    }
    for (const column of include) if (excluded.has(column)) problems.push(`${at}: column "${column}" is in both include and exclude`);
  }
  if (mapping.hash.length > 0 && !input.secrets.hashSalt) {
    problems.push(`targets.${targetName}.hashSaltEnv: is required because ${at}.hash hashes columns (set it to an environment variable that holds the salt)`);
  }
  if (mapping.encrypt.length > 0 && (!input.secrets.encryptionKey || !input.target.encryption)) {
    problems.push(`targets.${targetName}.encryption: a key (keyEnv) and keyId are required because ${at}.encrypt encrypts columns`);
  } else if (mapping.encrypt.length > 0 && input.secrets.encryptionKey?.length !== 32) {
    problems.push(`targets.${targetName}.encryption.keyEnv: must hold a base64-encoded 32-byte key (got ${input.secrets.encryptionKey?.length ?? 0} bytes)`);
  }

  const known = new Set<string>(include ?? named);
  const rules = new Map<string, ColumnRule>();
  for (const column of new Set([...known, ...Object.keys(mapping.rename)])) {
    const rule: ColumnRule = { target: mapping.rename[column] ?? column };
    const conversion = mapping.convert[column];
    if (conversion) rule.convert = conversion;
    const protection = protections.get(column);
    if (protection) rule.protect = protection;
    rules.set(column, rule);
  }
  const targets = new Map<string, string>();
  for (const [column, rule] of rules) {
    if (excluded.has(column)) continue;
    const other = targets.get(rule.target);
    if (other !== undefined) problems.push(`${at}.rename: columns "${other}" and "${column}" would both become "${rule.target}"`);
    else targets.set(rule.target, column);
  }
  for (const key of input.keyColumns ?? []) problems.push(...keyProblems(at, key, excluded, protections));

  return {
    plan: {
      sourceTable,
      targetTable: mapping.table ?? sourceTable,
      excluded,
      known,
      hasInclude: include !== undefined,
      unknownColumns: mapping.unknownColumns ?? (include ? 'drop' : 'pass'),
      onTruncate: mapping.onTruncate,
      rules,
    },
    problems,
  };
}

/** Keys identify rows at the target: they are kept, may be renamed, converted or hashed, never dropped, masked or encrypted. */
export function keyProblems(at: string, key: string, excluded: ReadonlySet<string>, protections: ReadonlyMap<string, Protection>): string[] {
  if (excluded.has(key)) return [`${at}.exclude: "${key}" is a key column; keys cannot be excluded (the target needs them to find the row)`];
  const p = protections.get(key);
  if (p?.kind === 'mask') return [`${at}.mask: "${key}" is a key column; masking would make different rows collide. Remove it from mask (hash keeps keys distinct)`];
  if (p?.kind === 'encrypt') return [`${at}.encrypt: "${key}" is a key column; encryption is randomized, so the same row would get a new key each time. Remove it from encrypt (hash is deterministic)`];
  return [];
}

export function protectionsOf(plan: TablePlan): Map<string, Protection> {
  const out = new Map<string, Protection>();
  for (const [column, rule] of plan.rules) if (rule.protect) out.set(column, rule.protect);
  return out;
}
