import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml, type ScalarTag, type CollectionTag, YAMLMap, YAMLSeq } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { createMetrics } from '../../src/observability/metrics.js';

/**
 * What an operator runs the product with (deploy/) must at least parse and hang together: nothing
 * here runs Docker, Kubernetes or AWS, so these checks are what catches a broken template before a
 * user does. CloudFormation's short-form tags (!Ref, !Sub, !If …) get a tag set of their own.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = join(ROOT, 'deploy');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

const deployFiles = filesUnder(DEPLOY);
const yamlFiles = deployFiles.filter((f) => /\.ya?ml$/.test(f));
const jsonFiles = deployFiles.filter((f) => f.endsWith('.json'));
const rel = (f: string) => relative(ROOT, f);
const read = (f: string) => readFileSync(f, 'utf8');

// ---------------------------------------------------------------- CloudFormation short-form tags

const scalarFn = (tag: string, key: string, split = false): ScalarTag => ({
  tag,
  resolve: (value: string) => ({ [key]: split ? value.split('.') : value }),
});
const seqFn = (tag: string, key: string): CollectionTag => ({
  tag,
  collection: 'seq',
  resolve: (seq) => ({ [key]: (seq as YAMLSeq).toJSON() }) as unknown as YAMLSeq,
});
const mapFn = (tag: string, key: string): CollectionTag => ({
  tag,
  collection: 'map',
  resolve: (map) => ({ [key]: (map as YAMLMap).toJSON() }) as unknown as YAMLMap,
});

const CFN_TAGS = [
  scalarFn('!Ref', 'Ref'),
  scalarFn('!Sub', 'Fn::Sub'),
  seqFn('!Sub', 'Fn::Sub'),
  scalarFn('!GetAtt', 'Fn::GetAtt', true),
  seqFn('!GetAtt', 'Fn::GetAtt'),
  scalarFn('!Condition', 'Condition'),
  scalarFn('!ImportValue', 'Fn::ImportValue'),
  scalarFn('!Base64', 'Fn::Base64'),
  scalarFn('!GetAZs', 'Fn::GetAZs'),
  mapFn('!Base64', 'Fn::Base64'),
  ...['If', 'Equals', 'Not', 'And', 'Or', 'Join', 'Select', 'Split', 'FindInMap', 'Cidr'].map((fn) => seqFn(`!${fn}`, `Fn::${fn}`)),
];

function parseDeployYaml(file: string): unknown[] {
  const docs = parseAllDocuments(read(file), { customTags: CFN_TAGS, merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${rel(file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
  }
  return list.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown).filter((doc) => doc !== null && doc !== undefined);
}

type Json = Record<string, unknown>;

/** Walks a JSON value, calling visit on every object. */
function walk(value: unknown, visit: (obj: Json, path: string) => void, path = ''): void {
  if (Array.isArray(value)) value.forEach((item, i) => walk(item, visit, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') {
    visit(value as Json, path);
    for (const [k, v] of Object.entries(value as Json)) walk(v, visit, path ? `${path}.${k}` : k);
  }
}

describe('every YAML and JSON file under deploy/ parses', () => {
  it.each(yamlFiles.map(rel))('%s', (file) => {
    expect(parseDeployYaml(join(ROOT, file)).length).toBeGreaterThan(0);
  });
  it.each(jsonFiles.map(rel))('%s', (file) => {
    expect(() => JSON.parse(read(join(ROOT, file)))).not.toThrow();
  });
});

// ---------------------------------------------------------------- CloudFormation

const templates = yamlFiles.filter((f) => f.includes(`${join('deploy', 'aws')}`) && /AWSTemplateFormatVersion/.test(read(f)));
const PSEUDO = new Set(['AWS::AccountId', 'AWS::NoValue', 'AWS::Partition', 'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix', 'AWS::NotificationARNs']);

describe('CloudFormation templates', () => {
  it('finds both templates', () => {
    expect(templates.map(rel).sort()).toEqual(['deploy/aws/outbox-core.yaml', 'deploy/aws/outbox-target.yaml']);
  });

  describe.each(templates.map(rel))('%s', (file) => {
    const template = parseDeployYaml(join(ROOT, file))[0] as Json;
    const parameters = (template.Parameters ?? {}) as Json;
    const resources = (template.Resources ?? {}) as Record<string, Json>;
    const conditions = (template.Conditions ?? {}) as Json;
    const known = new Set([...Object.keys(parameters), ...Object.keys(resources), ...PSEUDO]);

    it('every Ref, GetAtt and ${} names a parameter, a resource or a pseudo parameter', () => {
      const problems: string[] = [];
      walk(template, (obj, path) => {
        if (typeof obj.Ref === 'string' && !known.has(obj.Ref)) problems.push(`${path}: Ref ${obj.Ref}`);
        const getAtt = obj['Fn::GetAtt'];
        if (Array.isArray(getAtt) && !(String(getAtt[0]) in resources)) problems.push(`${path}: GetAtt ${String(getAtt[0])}`);
        const sub = obj['Fn::Sub'];
        const subText = typeof sub === 'string' ? sub : Array.isArray(sub) ? String(sub[0]) : undefined;
        const subVars = Array.isArray(sub) && sub[1] && typeof sub[1] === 'object' ? Object.keys(sub[1] as Json) : [];
        for (const match of (subText ?? '').matchAll(/\$\{([^!}][^}]*)\}/g)) {
          const name = match[1]!;
          const head = name.includes('::') ? name : name.split('.')[0]!;
          if (!known.has(head) && !subVars.includes(head)) problems.push(`${path}: Sub \${${name}}`);
          if (name.includes('.') && !name.includes('::') && !(head in resources)) problems.push(`${path}: Sub attribute of non-resource \${${name}}`);
        }
      });
      expect(problems).toEqual([]);
    });

    it('every condition used is defined', () => {
      const used = new Set<string>();
      for (const resource of Object.values(resources)) if (typeof resource.Condition === 'string') used.add(resource.Condition);
      for (const output of Object.values((template.Outputs ?? {}) as Record<string, Json>)) if (typeof output.Condition === 'string') used.add(output.Condition);
      walk(template, (obj) => {
        const fnIf = obj['Fn::If'];
        if (Array.isArray(fnIf)) used.add(String(fnIf[0]));
        if (typeof obj.Condition === 'string' && Object.keys(obj).length === 1) used.add(obj.Condition);
      });
      expect([...used].filter((c) => !(c in conditions))).toEqual([]);
    });

    it('every resource has an AWS type', () => {
      expect(Object.entries(resources).filter(([, r]) => typeof r.Type !== 'string' || !r.Type.startsWith('AWS::'))).toEqual([]);
    });

    it('IAM policies grant no wildcard actions and no wildcard resources (except sqs:ListQueues)', () => {
      const problems: string[] = [];
      for (const [name, resource] of Object.entries(resources)) {
        if (resource.Type !== 'AWS::IAM::ManagedPolicy' && resource.Type !== 'AWS::IAM::Policy') continue;
        const props = resource.Properties as Json;
        const statements = ((props.PolicyDocument as Json).Statement as unknown[]).flatMap((s) => {
          const fnIf = (s as Json)['Fn::If'];
          return Array.isArray(fnIf) ? [fnIf[1]] : [s];
        }) as Json[];
        for (const s of statements) {
          if (s.Effect !== 'Allow') continue;
          const actions = ([] as unknown[]).concat(s.Action).map(String);
          const resourcesOf = ([] as unknown[]).concat(s.Resource);
          if (actions.some((a) => a === '*' || a.endsWith(':*'))) problems.push(`${name}/${String(s.Sid)}: wildcard action ${actions.join(',')}`);
          if (resourcesOf.includes('*') && !(actions.length === 1 && actions[0] === 'sqs:ListQueues')) problems.push(`${name}/${String(s.Sid)}: Resource "*"`);
        }
      }
      expect(problems).toEqual([]);
    });
  });

  it('the target template delivers raw messages through a filter policy into a queue with a DLQ', () => {
    const t = parseDeployYaml(join(DEPLOY, 'aws', 'outbox-target.yaml'))[0] as Json;
    const resources = t.Resources as Record<string, { Type: string; Properties: Json }>;
    const subscription = resources.Subscription!.Properties;
    expect(subscription.RawMessageDelivery).toBe(true);
    expect(subscription.Protocol).toBe('sqs');
    expect(JSON.stringify(subscription.FilterPolicy)).toContain('FilterPolicy');
    expect(JSON.stringify(resources.Queue!.Properties.RedrivePolicy)).toContain('DeadLetterQueue');
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties.MetricName);
    expect(alarms.sort()).toEqual(['ApproximateAgeOfOldestMessage', 'ApproximateNumberOfMessagesVisible']);
    // a DynamoDB target's consumer may write its own tables, and only when they are named
    const policy = JSON.stringify(resources.ConsumerPolicy!.Properties);
    expect(policy).toContain('HasDynamoDbTables');
    for (const action of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:DescribeTable']) expect(policy).toContain(action);
    expect(policy).not.toContain('dynamodb:*');
    expect(policy).toContain('table/${DynamoDbTablePrefix}*');
  });
});

// ---------------------------------------------------------------- configs shipped in deploy/

describe('configs shipped in deploy/ pass the product’s own validation', () => {
  const env = { OUTBOX_SOURCE_URL: 'postgres://u@h/db', WAREHOUSE_URL: 'postgres://u@h/w' };

  it('deploy/compose/outbox.config.yaml', () => {
    const config = parseConfig(parseYaml(read(join(DEPLOY, 'compose', 'outbox.config.yaml'))) as Json, env);
    expect(Object.keys(config.targets)).toEqual(['warehouse']);
  });

  it('the ConfigMap in deploy/kubernetes/configmap.yaml', () => {
    const configMap = parseDeployYaml(join(DEPLOY, 'kubernetes', 'configmap.yaml'))[0] as { data: Record<string, string> };
    const config = parseConfig(parseYaml(configMap.data['outbox.config.yaml']!) as Json, env);
    expect(config.publish.topics.default?.arn).toMatch(/^arn:aws:sns:/);
  });
});

// ---------------------------------------------------------------- compose, Kubernetes, systemd

describe('deploy/compose/docker-compose.yml', () => {
  const compose = parseDeployYaml(join(DEPLOY, 'compose', 'docker-compose.yml'))[0] as { services: Record<string, Json> };

  it('runs the services, two relays and a consumer', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'mariadb', 'fauxqs', 'relay-a', 'relay-b', 'consumer-warehouse']));
    expect(compose.services.fauxqs!.image).toMatch(/^kibertoad\/fauxqs/);
    expect(compose.services['relay-a']!.command).toEqual(expect.arrayContaining(['relay', '--instance-id']));
    expect(compose.services['relay-b']!.stop_signal).toBe('SIGTERM');
  });

  it('pins every image it pulls to a release, and gives every service others wait for a healthcheck', () => {
    const unpinned = Object.entries(compose.services)
      .filter(([, service]) => service.build === undefined)
      .map(([name, service]) => `${name}: ${String(service.image)}`)
      .filter((entry) => !/:v?\d+\.\d+(\.\d+)?$/.test(entry));
    expect(unpinned).toEqual([]);
    const waited = Object.values(compose.services).flatMap((service) =>
      Object.entries((service.depends_on ?? {}) as Record<string, { condition?: string }>)
        .filter(([, d]) => d.condition === 'service_healthy')
        .map(([name]) => name),
    );
    expect(waited.length).toBeGreaterThan(0);
    expect([...new Set(waited)].filter((name) => !compose.services[name]?.healthcheck)).toEqual([]);
    expect(read(join(DEPLOY, 'compose', 'docker-compose.yml'))).toMatch(/Docker Compose v2/);
  });

  it('mounts only files that exist', () => {
    const missing: string[] = [];
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) continue;
        try {
          readFileSync(join(DEPLOY, 'compose', source));
        } catch {
          try {
            readdirSync(join(DEPLOY, 'compose', source));
          } catch {
            missing.push(`${name}: ${source}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('deploy/kubernetes', () => {
  const docs = readdirSync(join(DEPLOY, 'kubernetes'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseDeployYaml(join(DEPLOY, 'kubernetes', f)) as Json[]);
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind) as { metadata: Json; spec: Json }[];

  it('every manifest has apiVersion, kind and a name', () => {
    const manifests = docs.filter((d) => d.kind !== 'Kustomization');
    expect(manifests.filter((d) => !d.apiVersion || !d.kind || !(d.metadata as Json | undefined)?.name)).toEqual([]);
  });

  it('the kustomization lists files that exist', () => {
    const kustomization = docs.find((d) => d.kind === 'Kustomization') as { resources: string[] };
    const present = readdirSync(join(DEPLOY, 'kubernetes'));
    expect(kustomization.resources.filter((r) => !present.includes(r))).toEqual([]);
  });

  it('runs two relays with probes, anti-affinity, a grace period and a disruption budget', () => {
    const relay = byKind('Deployment').find((d) => d.metadata.name === 'outbox-relay')!;
    expect(relay.spec.replicas).toBe(2);
    const pod = (relay.spec.template as Json).spec as Json;
    const container = (pod.containers as Json[])[0]!;
    expect(JSON.stringify(container.readinessProbe)).toContain('/readyz');
    expect(JSON.stringify(container.livenessProbe)).toContain('/healthz');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    expect(JSON.stringify(pod.affinity)).toContain('podAntiAffinity');
    expect(byKind('PodDisruptionBudget').map((d) => d.metadata.name)).toContain('outbox-relay');
    expect(byKind('Job').map((d) => d.metadata.name)).toContain('outbox-migrate');
  });

  it('every Deployment selects the labels of its own pods', () => {
    for (const d of byKind('Deployment')) {
      const selector = (d.spec.selector as Json).matchLabels as Json;
      const labels = ((d.spec.template as Json).metadata as Json).labels as Json;
      for (const [k, v] of Object.entries(selector)) expect(labels[k], `${String(d.metadata.name)} ${k}`).toBe(v);
    }
  });
});

describe('deploy/systemd units', () => {
  const unit = (name: string) => read(join(DEPLOY, 'systemd', name));

  it.each(['outbox-relay@.service', 'outbox-consumer@.service'])('%s: the docs Documentation= names are installed by the package, the systemd install and the image', (name) => {
    const docs = [...unit(name).matchAll(/^Documentation=file:\/\/\/opt\/outbox-relay\/(\S+)$/gm)].map((m) => m[1]!);
    expect(docs.length).toBeGreaterThan(0);
    const files = (JSON.parse(read(join(ROOT, 'package.json'))) as { files: string[] }).files;
    const install = /^cp -r (.*?) \/opt\/outbox-relay\//m.exec(read(join(DEPLOY, 'systemd', 'README.md')))?.[1]?.split(/\s+/) ?? [];
    const dockerfile = read(join(DEPLOY, 'docker', 'Dockerfile'));
    for (const doc of docs) {
      expect(() => readFileSync(join(ROOT, doc)), doc).not.toThrow();
      const top = doc.split('/')[0]!;
      expect(files, `package.json files lacks ${top}`).toContain(top);
      expect(install, `deploy/systemd/README.md does not copy ${top}`).toContain(top);
      expect(dockerfile, `the image does not copy ${top}`).toMatch(new RegExp(`^COPY ${top} `, 'm'));
    }
  });

  it.each(['outbox-relay@.service', 'outbox-consumer@.service'])('%s restarts always and stops with SIGTERM in time', (name) => {
    const text = unit(name);
    expect(text).toMatch(/^Restart=always$/m);
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^EnvironmentFile=/m);
    const timeout = /^TimeoutStopSec=(\d+)s$/m.exec(text);
    expect(Number(timeout?.[1])).toBeGreaterThanOrEqual(20);
  });
});

// ---------------------------------------------------------------- monitoring

describe('deploy/monitoring', () => {
  const rules = parseDeployYaml(join(DEPLOY, 'monitoring', 'alerts.yml'))[0] as { groups: { name: string; rules: Json[] }[] };
  const alerts = rules.groups.flatMap((g) => g.rules);
  const dashboard = JSON.parse(read(join(DEPLOY, 'monitoring', 'grafana-dashboard.json'))) as { panels: { id: number; targets?: { expr: string }[] }[] };

  it('has the progress alerts an operator needs', () => {
    const names = new Set(alerts.map((a) => a.alert));
    for (const name of ['OutboxNoRelayLeader', 'OutboxSyncStopped', 'OutboxUnpublishedChangesOld', 'OutboxLongOpenTransaction', 'OutboxPublishBreakerOpen', 'OutboxConsumerLagHigh', 'OutboxConsumerDeadLettered']) {
      expect(names, name).toContain(name);
    }
  });

  it('every alert has a severity and a runbook section in docs/operations.md', () => {
    const operations = read(join(ROOT, 'docs', 'operations.md')).toLowerCase();
    for (const alert of alerts) {
      expect(['warning', 'critical'], String(alert.alert)).toContain((alert.labels as Json).severity);
      const anchor = String((alert.annotations as Json).runbook_url).split('#')[1]!;
      expect(operations, `docs/operations.md has no heading for ${String(alert.alert)}`).toContain(`### ${anchor}`);
    }
  });

  it('dashboard panels have unique ids', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every alert has a promtool test in which it fires', () => {
    const tests = parseDeployYaml(join(DEPLOY, 'monitoring', 'alerts.test.yml'))[0] as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const fired = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect([...new Set(alerts.map((a) => String(a.alert)))].filter((name) => !fired.has(name))).toEqual([]);
  });

  it('relay and consumer alerts are per source (two sources never add up)', () => {
    for (const group of rules.groups.filter((g) => g.name !== 'outbox-sqs-cloudwatch')) {
      for (const alert of group.rules) {
        for (const aggregation of String(alert.expr).matchAll(/\b(sum|max|count|min)\b(?:\s+by\s*\(([^)]*)\))?\s*\(/g)) {
          expect(aggregation[2] ?? '', `${String(alert.alert)}: ${aggregation[0]}`).toMatch(/\bsource\b/);
        }
      }
    }
  });

  it('the dashboard shows memory of every process', () => {
    const memory = dashboard.panels.find((p) => /memory/i.test(String((p as { title?: string }).title)));
    expect((memory?.targets ?? []).map((t) => t.expr).join(' ')).toMatch(/outbox_process_resident_memory_bytes/);
  });

  it('alerts and dashboard use only metrics the code defines', async () => {
    const source = filesUnder(join(ROOT, 'src')).filter((f) => f.endsWith('.ts')).map(read).join('\n');
    const runtime = (await createMetrics({ defaultMetrics: true }).registry.getMetricsAsJSON()).map((m) => m.name);
    const defined = new Set([...[...source.matchAll(/['"`](outbox_[a-z0-9_]+)['"`]/g)].map((m) => m[1]!), ...runtime]);
    const exprs = [...alerts.map((a) => String(a.expr)), ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))];
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(outbox_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))));
    expect([...used].filter((name) => !defined.has(name)).sort()).toEqual([]);
  });
});
