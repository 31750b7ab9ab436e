/**
 * Docker cannot run on this machine and there is no cluster: these tests hold the deployment files to the
 * code instead (ports, health service names, config keys, flags), by parsing them, and check every manifest
 * against its kind's schema from the Kubernetes OpenAPI (kubernetes-models' validators), as an API server
 * would before accepting it.
 */
import test from 'ava';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_PORT, parseServerConfig } from '../../server/src/config.js';
import { parseDevices } from '../../server/src/engine/devices.js';
import { LIVENESS_SERVICE_NAME, SEGMENTATION_SERVICE_NAME } from '../../server/src/grpc/create-server.js';
import { tempDir } from '../helpers/clips.js';
import { DRAIN_ANSWER_GRACE_MS } from '../../server/src/pipeline/service-context.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The parts of the manifests these tests read. */
interface Probe {
  readonly grpc: { readonly port: number; readonly service: string };
}
interface Container {
  readonly args: string[];
  readonly env: { readonly name: string; readonly value: string }[];
  readonly ports: { readonly name: string; readonly containerPort: number }[];
  readonly resources: { readonly requests: Record<string, string>; readonly limits: Record<string, string | number> };
  readonly startupProbe: Probe;
  readonly livenessProbe: Probe;
  readonly readinessProbe: Probe;
}
interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly data: Record<string, string>;
  readonly spec: {
    readonly selector: { readonly matchLabels: Record<string, string> } & Record<string, unknown>;
    readonly clusterIP?: string;
    readonly ports: { readonly name: string; readonly port: number; readonly targetPort: string }[];
    readonly template: {
      readonly metadata: { readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
      readonly spec: { readonly terminationGracePeriodSeconds: number; readonly containers: Container[] };
    };
  };
}

async function documents(file: string): Promise<Manifest[]> {
  const text = await readFile(join(ROOT, 'deploy/k8s', file), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as Manifest;
  });
}

/** The kinds the manifests may hold, by `apiVersion kind`, each with its schema's validator. */
const MODELS: Readonly<Record<string, new (data: never) => { validate(): void }>> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'v1 ConfigMap': ConfigMap,
};

/**
 * Checks a manifest against its kind's schema: throws (kubernetes-models' ValidationError, naming the field
 * and the rule) when it would not pass the API server's schema, or when its kind is not one of MODELS.
 */
function validateManifest(manifest: unknown): void {
  const { apiVersion, kind } = manifest as { apiVersion?: unknown; kind?: unknown };
  const Model = MODELS[`${String(apiVersion)} ${String(kind)}`];
  if (Model === undefined) throw new Error(`no schema here for apiVersion ${String(apiVersion)}, kind ${String(kind)}`);
  new Model(manifest as never).validate();
}

/** A copy of the first document of `file` with the value at `path` replaced (removed, for undefined). */
async function broken(file: string, path: readonly (string | number)[], value: unknown): Promise<unknown> {
  const [manifest] = await documents(file);
  const copy = structuredClone(manifest) as unknown;
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const MANIFEST_FILES = (await readdir(join(ROOT, 'deploy/k8s'))).filter((file) => /\.ya?ml$/.test(file)).sort();

test('deploy/k8s holds the manifests these tests know', (t) => {
  t.deepEqual(MANIFEST_FILES, ['configmap.yaml', 'deployment-gpu.yaml', 'deployment.yaml', 'service.yaml']);
});

for (const file of MANIFEST_FILES) {
  test(`${file}: every document passes its kind's Kubernetes API schema`, async (t) => {
    const manifests = await documents(file);
    t.true(manifests.length > 0);
    for (const [index, manifest] of manifests.entries()) {
      t.notThrows(() => validateManifest(manifest), `${file} document ${index + 1} (${manifest.kind})`);
    }
  });
}

// Unknown fields are not in these cases: the OpenAPI schemas leave objects open (the API server's strict field
// validation rejects them, not the schema), so kubernetes-models accepts them.
test('the schema check catches broken manifests: wrong types, missing required fields, bad enum values, unknown kinds', async (t) => {
  const container = ['spec', 'template', 'spec', 'containers', 0];
  const cases: [file: string, path: (string | number)[], value: unknown, message: RegExp][] = [
    // A quoted port is an easy slip in YAML, and the API server refuses it.
    [
      'deployment.yaml',
      [...container, 'ports', 0, 'containerPort'],
      '50051',
      /ports\/0\/containerPort must be integer/,
    ],
    ['deployment.yaml', [...container, 'readinessProbe', 'grpc', 'port'], 'grpc', /grpc\/port must be integer/],
    ['deployment.yaml', ['spec', 'selector'], undefined, /data\/spec must have required property selector/],
    ['deployment.yaml', [...container, 'name'], undefined, /containers\/0 must have required property name/],
    ['deployment.yaml', ['apiVersion'], 'extensions/v1beta1', /no schema here for apiVersion extensions\/v1beta1/],
    [
      'service.yaml',
      ['spec', 'ports', 0, 'protocol'],
      'HTTP',
      /ports\/0\/protocol must be equal to one of the allowed/,
    ],
    ['configmap.yaml', ['data', 'config.json'], { maxBatch: 4 }, /data\/data\/config\.json must be string/],
  ];
  for (const [file, path, value, message] of cases) {
    const manifest = await broken(file, path, value);
    t.throws(() => validateManifest(manifest), { message }, `${file} ${path.join('.')}`);
  }
});

/** The server config the container would run with: its args and env, with the ConfigMap's file. */
async function containerConfig(t: Parameters<typeof tempDir>[0], container: Container) {
  const [configMap] = await documents('configmap.yaml');
  const dir = await tempDir(t);
  const file = join(dir, 'config.json');
  await writeFile(file, configMap!.data['config.json']!);
  const args = container.args.map((arg) => (arg === '/etc/fusionseg/config.json' ? file : arg));
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  return parseServerConfig(args, env);
}

for (const [file, variant] of [
  ['deployment.yaml', 'cpu'],
  ['deployment-gpu.yaml', 'gpu'],
] as const) {
  test(`${file}: probes use the real port and health service names, and the config parses`, async (t) => {
    const [deployment] = await documents(file);
    t.is(deployment!.kind, 'Deployment');
    const pod = deployment!.spec.template;
    t.like(deployment!.spec.selector.matchLabels, pod.metadata.labels);
    const [container] = pod.spec.containers;
    const grpcPort = container!.ports.find((p) => p.name === 'grpc');
    t.is(grpcPort?.containerPort, DEFAULT_PORT);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      t.is(container![probe].grpc.port, DEFAULT_PORT, probe);
    }
    t.is(container!.livenessProbe.grpc.service, LIVENESS_SERVICE_NAME);
    t.is(container!.startupProbe.grpc.service, LIVENESS_SERVICE_NAME);
    t.is(container!.readinessProbe.grpc.service, SEGMENTATION_SERVICE_NAME);
    t.truthy(container!.resources.requests.cpu);
    t.truthy(container!.resources.requests.memory);

    const config = await containerConfig(t, container!);
    t.is(config.address, `0.0.0.0:${DEFAULT_PORT}`);
    const metricsPort = container!.ports.find((p) => p.name === 'metrics');
    t.is(config.metricsPort, metricsPort?.containerPort);
    t.is(pod.metadata.annotations['prometheus.io/port'], String(config.metricsPort));
    // SIGTERM drains for drainTimeoutS, then streams answer their frames in flight: the pod must be given
    // longer than both (plus the preStop pause).
    t.true(pod.spec.terminationGracePeriodSeconds * 1000 > config.drainTimeoutMs + DRAIN_ANSWER_GRACE_MS + 5000);
    const environment = { cpuCount: 8, cudaAvailable: variant === 'gpu' };
    const devices = parseDevices(config.devices!, environment);
    if (variant === 'gpu') {
      t.is(container!.resources.limits['nvidia.com/gpu'], 2);
      t.deepEqual(
        devices.map((d) => d.name),
        ['cuda:0', 'cuda:1'],
      );
    } else {
      t.deepEqual(
        devices.map((d) => d.kind),
        ['cpu', 'cpu'],
      );
    }
  });
}

test('service.yaml: both Services select the pods and target the named gRPC port; one is headless', async (t) => {
  const services = await documents('service.yaml');
  const [deployment] = await documents('deployment.yaml');
  const podLabels = deployment!.spec.template.metadata.labels;
  const portNames = deployment!.spec.template.spec.containers[0]!.ports.map((p) => p.name);
  t.is(services.length, 2);
  for (const service of services) {
    t.is(service.kind, 'Service');
    for (const [key, value] of Object.entries(service.spec.selector)) {
      t.true(podLabels[key] === value, `selector ${key}`);
    }
    const grpc = service.spec.ports.find((p) => p.name === 'grpc');
    t.is(grpc?.port, DEFAULT_PORT);
    t.true(portNames.includes(grpc?.targetPort ?? ''));
  }
  t.is(services.find((s) => s.metadata.name === 'fusionseg-headless')?.spec.clusterIP, 'None');
});

test('the config map holds only keys the server knows', async (t) => {
  const [configMap] = await documents('configmap.yaml');
  const json = JSON.parse(configMap!.data['config.json']!) as Record<string, unknown>;
  t.true(Object.keys(json).length > 5);
  const dir = await tempDir(t);
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ ...json, maxBatchSize: 4 }));
  t.throws(() => parseServerConfig(['--config', file], {}), { message: /unknown key "maxBatchSize"/ });
});

test('Dockerfile: multi-stage, CPU and CUDA targets, exposes the ports the manifests use, runs the built server', async (t) => {
  const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = [...text.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
  t.deepEqual(stages, ['build', 'runtime', 'runtime-cuda']);
  const exposed = [...text.matchAll(/^EXPOSE\s+(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/).map(Number));
  t.is(exposed.length, 2);
  for (const ports of exposed) t.deepEqual(ports, [DEFAULT_PORT, 9464]);
  const entrypoints = [...text.matchAll(/^ENTRYPOINT\s+(\[.+\])$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
  for (const entrypoint of entrypoints) t.deepEqual(entrypoint.slice(-2), ['node', 'dist/server/src/main.js']);
  // The paths the image copies exist, and the CMD is a valid server command line.
  for (const match of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const path of match[1]!.split(/\s+/)) await t.notThrowsAsync(stat(join(ROOT, path)), path);
  }
  const cmd = [...text.matchAll(/^CMD\s+(\[.+\])$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
  for (const args of cmd) t.is(parseServerConfig(args, {}).metricsPort, 9464);
  const build = JSON.parse(await readFile(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  t.true(build.include.includes('server/src'));
});
