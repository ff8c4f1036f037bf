import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * `kubectl kustomize` for the features deploy/kubernetes/kustomization.yaml uses, in Node, so CI can
 * build the manifests without kubectl: resources (files), namespace, labels (metadata only, without
 * selectors or templates), images, secretGenerator from env files (without a name hash), and the
 * legacy sort order with custom orderFirst/orderLast. A feature it does not know fails the build, so
 * the kustomization cannot silently outgrow this. When kubectl is on PATH the test compares the two.
 */
export type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  secretGenerator?: { name: string; envs?: string[]; type?: string }[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
  sortOptions?: { order: 'legacy' | 'fifo'; legacySortOptions?: { orderFirst?: string[]; orderLast?: string[] } };
}

const KNOWN = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels', 'images', 'secretGenerator', 'generatorOptions', 'sortOptions']);

/** kustomize's default legacy order (api/resid/gvk.go). */
const LEGACY_FIRST = [
  'Namespace',
  'ResourceQuota',
  'StorageClass',
  'CustomResourceDefinition',
  'ServiceAccount',
  'PodSecurityPolicy',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'Secret',
  'Endpoints',
  'Service',
  'LimitRange',
  'PriorityClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Deployment',
  'StatefulSet',
  'CronJob',
  'PodDisruptionBudget',
];
const LEGACY_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

export function readYamlObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && o !== undefined);
}

/** KEY=VALUE lines; # comments and blank lines skipped, as kustomize reads an env file. */
export function readEnvFile(file: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const text = line.trim();
    if (!text || text.startsWith('#')) continue;
    const eq = text.indexOf('=');
    if (eq <= 0) throw new Error(`${file}: not KEY=VALUE: ${text}`);
    entries[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return entries;
}

export function kustomizeBuild(dir: string): K8sObject[] {
  const k = readYamlObjects(join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
  const unknown = Object.keys(k).filter((key) => !KNOWN.has(key));
  if (unknown.length) throw new Error(`kustomization.yaml uses ${unknown.join(', ')}, which test/helpers/kustomize.ts does not implement`);
  const objects: K8sObject[] = (k.resources ?? []).flatMap((resource) => readYamlObjects(join(dir, resource)));

  for (const generator of k.secretGenerator ?? []) {
    if (!k.generatorOptions?.disableNameSuffixHash) throw new Error('secretGenerator with a name hash is not implemented here');
    const data: Record<string, string> = {};
    for (const env of generator.envs ?? []) for (const [key, value] of Object.entries(readEnvFile(join(dir, env)))) data[key] = Buffer.from(value).toString('base64');
    objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: generator.name }, type: generator.type ?? 'Opaque', data });
  }

  for (const object of objects) {
    if (k.namespace && object.kind !== 'Namespace') object.metadata.namespace = k.namespace;
    for (const label of k.labels ?? []) {
      if (label.includeSelectors || label.includeTemplates) throw new Error('labels with includeSelectors/includeTemplates are not implemented here');
      object.metadata.labels = { ...object.metadata.labels, ...label.pairs };
    }
    for (const container of podContainers(object)) {
      const image = String(container.image ?? '');
      const name = image.replace(/@.*$/, '').replace(/:[^/:]+$/, '');
      const rule = (k.images ?? []).find((i) => i.name === name);
      if (rule) container.image = `${rule.newName ?? name}${rule.digest ? `@${rule.digest}` : `:${rule.newTag ?? (image.slice(name.length + 1) || 'latest')}`}`;
    }
  }
  return sortObjects(objects, k.sortOptions);
}

/** The containers (and init containers) of a workload's pod template, or of a Pod. */
export function podContainers(object: K8sObject): Record<string, unknown>[] {
  const spec = podSpec(object);
  if (!spec) return [];
  return [...((spec.initContainers as Record<string, unknown>[] | undefined) ?? []), ...((spec.containers as Record<string, unknown>[] | undefined) ?? [])];
}

export function podSpec(object: K8sObject): Record<string, unknown> | undefined {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!spec) return undefined;
  if (object.kind === 'Pod') return spec;
  const template = (object.kind === 'CronJob' ? ((spec.jobTemplate as Record<string, unknown>)?.spec as Record<string, unknown>)?.template : spec.template) as Record<string, unknown> | undefined;
  return template?.spec as Record<string, unknown> | undefined;
}

function sortObjects(objects: K8sObject[], options: Kustomization['sortOptions']): K8sObject[] {
  if (options?.order === 'fifo') return objects;
  const first = options?.legacySortOptions?.orderFirst ?? LEGACY_FIRST;
  const last = options?.legacySortOptions?.orderLast ?? LEGACY_LAST;
  const rank = (kind: string) => (first.includes(kind) ? first.indexOf(kind) - first.length : last.includes(kind) ? last.indexOf(kind) + 1 : 0);
  const key = (o: K8sObject) => [o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '', o.apiVersion.slice(o.apiVersion.indexOf('/') + 1), o.kind, o.metadata.namespace ?? '', o.metadata.name].join('\0');
  return [...objects].sort((a, b) => rank(a.kind) - rank(b.kind) || (rank(a.kind) === 0 && a.kind !== b.kind ? a.kind.localeCompare(b.kind) : 0) || key(a).localeCompare(key(b)));
}
