// Every manifest in examples/kubernetes/ validates against the Kubernetes API schemas, offline: the models of
// `kubernetes-models` check types, required fields and formats (its validators are generated from the
// Kubernetes OpenAPI document), and the TypeScript compiler checks the same documents against the models'
// interfaces, which catches what the schemas let through — an unknown or misplaced field, as
// `kubectl apply`'s strict field validation would refuse. Then drover's side: the config in each ConfigMap
// loads, the grace period covers its stop budget, and the probes and scrape annotations point where drover
// answers. Negative controls show each check can fail.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { stopBudgetSecs } from '../../src/daemon/systemd-unit.js';
import { repoRoot } from '../helpers/paths.js';

const DIR = join(repoRoot, 'examples', 'kubernetes');
/** where examples/docker/Dockerfile puts the example's files in the image */
const IMAGE_APP_DIR = '/srv/app/';
const HEALTHCHECK_IN_IMAGE = '/app/docker/healthcheck.mjs';

/** apiVersion/kind → the model class and its interface (module and name) for the compiler. */
const MODELS: Record<string, { model: { new (data: never): { validate(): void } }; module: string; iface: string }> = {
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1', iface: 'IConfigMap' },
  'v1/Secret': { model: Secret, module: 'kubernetes-models/v1', iface: 'ISecret' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1', iface: 'IService' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1', iface: 'IDeployment' },
  'apps/v1/StatefulSet': { model: StatefulSet, module: 'kubernetes-models/apps/v1', iface: 'IStatefulSet' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1', iface: 'IPodDisruptionBudget' },
};

interface Manifest {
  readonly file: string;
  readonly index: number;
  readonly obj: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } };
}

function readManifests(): Manifest[] {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 2, `manifests in ${DIR}`);
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc, index) => {
      assert.deepEqual(doc.errors.map((e) => e.message), [], `${file} document ${index + 1}: YAML errors`);
      return { file, index, obj: doc.toJS() as Manifest['obj'] };
    }),
  );
}

const where = (m: Manifest): string => `${m.file} #${m.index + 1} ${m.obj.kind}/${m.obj.metadata?.name}`;

/** Schema validation: the message of the model's error, or null when valid. */
function schemaProblem(m: Manifest): string | null {
  const entry = MODELS[`${m.obj.apiVersion}/${m.obj.kind}`];
  if (!entry) return `no model for ${m.obj.apiVersion} ${m.obj.kind}`;
  try {
    new entry.model(m.obj as never).validate();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The compiler's complaints about each manifest typed as its interface (excess property checks included). */
function typeProblems(manifests: readonly Manifest[]): string[] {
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const entry = MODELS[`${m.obj.apiVersion}/${m.obj.kind}`];
    if (!entry) return;
    lines.push(`import type { ${entry.iface} as T${i} } from '${entry.module}';`, `export const m${i}: T${i} = ${JSON.stringify(m.obj)};`);
  });
  // inside the repository (dist/ is not committed) so that module resolution finds its node_modules
  const dir = mkdtempSync(join(repoRoot, 'dist', '.k8s-typecheck-'));
  const file = join(dir, 'manifests.ts');
  try {
    writeFileSync(file, lines.join('\n'));
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      // each manifest is one line pair: line 2i+1 is manifest i
      const m = line >= 0 ? manifests[Math.floor(line / 2)] : undefined;
      return `${m ? where(m) : d.file?.fileName ?? '?'}: ${text}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every manifest validates against the Kubernetes schemas and has no unknown field', () => {
  const manifests = readManifests();
  for (const m of manifests) assert.equal(schemaProblem(m), null, where(m));
  assert.deepEqual(typeProblems(manifests), []);
});

test('negative controls: a wrong type, a missing field and a misplaced field are each caught', () => {
  const deployment = readManifests().find((m) => m.obj.kind === 'Deployment') as Manifest;
  const copy = (): Manifest => ({ ...deployment, obj: structuredClone(deployment.obj) });
  type Pod = { spec: { template: { spec: { containers: Record<string, unknown>[]; terminationGracePeriodSeconds?: unknown } } } };

  const wrongType = copy();
  ((wrongType.obj as unknown as Pod).spec.template.spec.containers[0] as { ports: { containerPort: unknown }[] }).ports[0]!.containerPort = '8080';
  assert.match(schemaProblem(wrongType) ?? '', /containerPort must be integer/);

  const missing = copy();
  delete (missing.obj as unknown as Pod).spec.template.spec.containers[0]!['name'];
  assert.match(schemaProblem(missing) ?? '', /must have required property '?name'?/);

  // the schemas allow extra properties; a grace period put on the container instead of the pod passes them
  const misplaced = copy();
  const pod = (misplaced.obj as unknown as Pod).spec.template.spec;
  pod.containers[0]!['terminationGracePeriodSeconds'] = pod.terminationGracePeriodSeconds;
  assert.equal(schemaProblem(misplaced), null, 'the schema check alone misses it');
  const problems = typeProblems([misplaced]);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0] ?? '', /known properties, and '"terminationGracePeriodSeconds"' does not exist in type 'IContainer'/);
});

// --- drover's side of each Deployment ---

interface Container {
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  livenessProbe?: { exec?: { command: string[] } };
  readinessProbe?: { exec?: { command: string[] } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: { readOnlyRootFilesystem?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodTemplate {
  metadata: { annotations?: Record<string, string> };
  spec: { terminationGracePeriodSeconds?: number; containers: Container[]; volumes?: { name: string; configMap?: { name: string }; emptyDir?: object }[] };
}

/** The drover config a Deployment runs: from its ConfigMap, with the image's /srv/app/ mapped to examples/docker/. */
function configOf(deployment: Manifest, all: readonly Manifest[]): { config: Config; container: Container; pod: PodTemplate } {
  const pod = (deployment.obj as unknown as { spec: { template: PodTemplate } }).spec.template;
  const container = pod.spec.containers[0] as Container;
  const [verb, flag, confPath] = container.args ?? [];
  assert.deepEqual([verb, flag], ['up', '-c'], `${where(deployment)}: runs drover up -c FILE`);
  const mount = container.volumeMounts?.find((v) => v.mountPath === dirname(confPath as string));
  const volume = pod.spec.volumes?.find((v) => v.name === mount?.name);
  const cm = all.find((m) => m.obj.kind === 'ConfigMap' && m.obj.metadata.name === volume?.configMap?.name);
  assert.ok(cm, `${where(deployment)}: ${confPath} comes from a ConfigMap in the same file`);
  const text = (cm.obj as unknown as { data: Record<string, string> }).data[basename(confPath as string)];
  assert.ok(text, `${where(cm)} has ${basename(confPath as string)}`);
  // the environment the pod gives drover: Secret values from the same file, placeholders for the others
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const secret = ref && all.find((m) => m.obj.kind === 'Secret' && m.obj.metadata.name === ref.name);
    env[e.name] = e.value ?? (secret ? (secret.obj as unknown as { stringData: Record<string, string> }).stringData[ref.key] ?? '' : 'from-a-secret');
  }
  const dir = mkdtempSync(join(tmpdir(), 'drover-k8s-'));
  try {
    const file = join(dir, 'supervisord.conf');
    writeFileSync(file, text.split(IMAGE_APP_DIR).join(`${join(repoRoot, 'examples', 'docker')}/`));
    return { config: loadConfig(file, { env }), container, pod };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("each Deployment's drover config loads, and its grace period covers preStop plus the stop budget", () => {
  const all = readManifests();
  const deployments = all.filter((m) => m.obj.kind === 'Deployment');
  assert.ok(deployments.length >= 2);
  for (const d of deployments) {
    const { config, container, pod } = configOf(d, all);
    const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStopSecs = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace >= preStopSecs + stopBudgetSecs(config), `${where(d)}: terminationGracePeriodSeconds ${grace} < preStop ${preStopSecs} s + stop budget ${stopBudgetSecs(config)} s`);
    // the runtime directory is on a writable volume when the root filesystem is read-only
    if (container.securityContext?.readOnlyRootFilesystem) {
      const writable = (container.volumeMounts ?? []).filter((v) => pod.spec.volumes?.find((x) => x.name === v.name)?.emptyDir);
      assert.ok(
        writable.some((v) => config.supervisord.runtimeDir === v.mountPath || config.supervisord.runtimeDir.startsWith(`${v.mountPath}/`)),
        `${where(d)}: runtime_dir ${config.supervisord.runtimeDir} is on an emptyDir`,
      );
    }
  }
});

test('probes ask drover /healthz and /readyz through the image\'s script; Prometheus scrapes the port drover serves /metrics on', () => {
  const all = readManifests();
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /COPY docker\/healthcheck\.mjs \.\/docker\//, 'the script is at /app/docker/ in the image');
  for (const d of all.filter((m) => m.obj.kind === 'Deployment')) {
    const { config, container, pod } = configOf(d, all);
    assert.deepEqual(container.livenessProbe?.exec?.command, ['node', HEALTHCHECK_IN_IMAGE, '/healthz'], where(d));
    assert.deepEqual(container.readinessProbe?.exec?.command, ['node', HEALTHCHECK_IN_IMAGE, '/readyz'], where(d));
    // the script's default socket: runtime_dir/drover.sock with runtime_dir = /run/drover
    assert.equal(config.supervisord.runtimeDir, '/run/drover', where(d));
    const a = pod.metadata.annotations ?? {};
    assert.equal(a['prometheus.io/scrape'], 'true', where(d));
    assert.equal(a['prometheus.io/path'], '/metrics', where(d));
    assert.equal(Number(a['prometheus.io/port']), config.inetHttpServer?.port, `${where(d)}: the scrape port is [inet_http_server]'s`);
    assert.ok(container.ports?.some((p) => p.containerPort === config.inetHttpServer?.port), `${where(d)}: the metrics port is declared`);
  }
});

test('the multi-host shape: every pod reaches one Redis for its queues, state and locks', () => {
  const all = readManifests().filter((m) => m.file === 'multi-host.yaml');
  const d = all.find((m) => m.obj.kind === 'Deployment') as Manifest;
  const { config } = configOf(d, all);
  assert.equal(config.supervisord.sharedBackend, 'redis://redis:6379/0', 'the URL from the Secret');
  assert.ok((d.obj as unknown as { spec: { replicas: number } }).spec.replicas > 1, 'several pods');
  const redis = all.find((m) => m.obj.kind === 'Service' && m.obj.metadata.name === 'redis') as Manifest;
  assert.ok(redis, 'a Service named redis');
  assert.ok((redis.obj as unknown as { spec: { ports: { port: number }[] } }).spec.ports.some((p) => p.port === 6379));
  assert.ok(all.some((m) => m.obj.kind === 'StatefulSet' && m.obj.metadata.name === 'redis'));
});
