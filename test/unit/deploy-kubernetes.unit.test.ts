import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kustomizeBuild, podContainers, podSpec, readEnvFile, readYamlObjects, type K8sObject } from '../helpers/kustomize.js';
import { ROOT } from '../helpers/cli.js';

/**
 * deploy/kubernetes as `kubectl apply -k` would apply it: built (test/helpers/kustomize.ts, a
 * kustomize equivalent in Node; compared with `kubectl kustomize` when kubectl is installed), every
 * object validated against the Kubernetes schema (kubernetes-models), applied in an order in which
 * whatever a pod needs exists before it, and with every image under the kustomization's override.
 * The Secrets are built from the .example env files, as an operator's copies would be.
 */
const SOURCE = join(ROOT, 'deploy', 'kubernetes');
const work = mkdtempSync(join(tmpdir(), 'outbox-kustomize-'));
cpSync(SOURCE, work, { recursive: true });
for (const file of readdirSync(join(work, 'secrets'))) if (file.endsWith('.env.example')) cpSync(join(work, 'secrets', file), join(work, 'secrets', file.replace(/\.example$/, '')));
const built = kustomizeBuild(work);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The kubernetes-models class for an object: kubernetes-models/<group>/<version>/<Kind>, or a CRD package. */
async function modelOf(object: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const path = group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${group}/${version}/${object.kind}` : `kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`;
  const module = (await import(path)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = module[object.kind];
  if (!model) throw new Error(`no model for ${object.apiVersion} ${object.kind}`);
  return model;
}

const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

describe('deploy/kubernetes (kubectl apply -k)', () => {
  it('builds the objects an operator needs, in one namespace', () => {
    expect(built.map(id)).toEqual([
      'ServiceAccount/outbox-consumer-warehouse',
      'ServiceAccount/outbox-migrate',
      'ServiceAccount/outbox-relay',
      'ConfigMap/outbox-relay-config',
      'Secret/outbox-migrate-source',
      'Secret/outbox-relay-source',
      'Secret/outbox-target-warehouse',
      'Job/outbox-migrate',
      'Service/outbox-consumer-warehouse-metrics',
      'Service/outbox-relay-metrics',
      'Deployment/outbox-consumer-warehouse',
      'Deployment/outbox-relay',
      'PodDisruptionBudget/outbox-relay',
    ]);
    expect(new Set(built.map((o) => o.metadata.namespace))).toEqual(new Set(['outbox-relay']));
  });

  it('every object is valid against the Kubernetes schema', async () => {
    const problems: string[] = [];
    for (const object of built) {
      try {
        new (await modelOf(object))(object).validate();
      } catch (err) {
        problems.push(`${id(object)}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the optional PodMonitor is valid too', async () => {
    for (const object of readYamlObjects(join(SOURCE, 'servicemonitor.yaml'))) new (await modelOf(object))(object).validate();
  });

  it('a pod comes after the ServiceAccount, ConfigMaps and Secrets it uses (the migrate Job first among them)', () => {
    const problems: string[] = [];
    built.forEach((object, index) => {
      const spec = podSpec(object);
      if (!spec) return;
      const needs = [
        `ServiceAccount/${String(spec.serviceAccountName ?? 'default')}`,
        ...((spec.volumes as { configMap?: { name: string }; secret?: { secretName: string } }[] | undefined) ?? []).flatMap((v) => [
          ...(v.configMap ? [`ConfigMap/${v.configMap.name}`] : []),
          ...(v.secret ? [`Secret/${v.secret.secretName}`] : []),
        ]),
        ...podContainers(object).flatMap((c) => ((c.envFrom as { secretRef?: { name: string }; configMapRef?: { name: string } }[] | undefined) ?? []).map((e) => (e.secretRef ? `Secret/${e.secretRef.name}` : `ConfigMap/${e.configMapRef!.name}`))),
      ];
      for (const need of needs) {
        const at = built.findIndex((o) => id(o) === need);
        if (at === -1) problems.push(`${id(object)} needs ${need}, which the kustomization does not create`);
        else if (at > index) problems.push(`${id(object)} is applied before ${need}`);
      }
    });
    expect(problems).toEqual([]);
    const job = built.findIndex((o) => o.kind === 'Job');
    expect(built.findIndex((o) => o.kind === 'Deployment')).toBeGreaterThan(job);
  });

  it('every container runs the image the kustomization names (the migrate Job included)', () => {
    const images = built.flatMap((o) => podContainers(o).map((c) => `${id(o)} ${String(c.image)}`));
    expect(images).toEqual(['Job/outbox-migrate outbox-relay:0.1.0', 'Deployment/outbox-consumer-warehouse outbox-relay:0.1.0', 'Deployment/outbox-relay outbox-relay:0.1.0']);
  });

  it('each Secret has the keys its example file documents, and the pods expect', () => {
    const secret = (name: string) => Object.keys((built.find((o) => id(o) === `Secret/${name}`)!.data as Record<string, string>) ?? {});
    expect(secret('outbox-relay-source').sort()).toEqual(['OUTBOX_REDIS_URL', 'OUTBOX_SOURCE_URL']);
    expect(secret('outbox-migrate-source')).toEqual(['OUTBOX_SOURCE_URL']);
    expect(secret('outbox-target-warehouse')).toEqual(Object.keys(readEnvFile(join(SOURCE, 'secrets', 'target-warehouse.env.example'))));
    expect(secret('outbox-target-warehouse')).toContain('WAREHOUSE_URL');
  });

  it.skipIf(!kubectl)('matches `kubectl kustomize` (installed here)', () => {
    const output = execFileSync('kubectl', ['kustomize', work], { encoding: 'utf8' });
    const theirs = parseAllDocuments(output).map((d) => d.toJS() as K8sObject);
    // kubectl folds long base64 values over lines
    for (const o of theirs) if (o.kind === 'Secret') o.data = Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s/g, '')]));
    expect(built).toEqual(theirs);
  });
});
