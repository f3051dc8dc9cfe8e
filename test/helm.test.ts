/**
 * The Helm chart (deploy/helm/baton) and the Kubernetes examples (deploy/examples), checked
 * through helm itself: lint, renders with the defaults and with every option on, schema and
 * template refusals, and the properties an operator relies on in the rendered manifests.
 *
 * Without helm the file is skipped with the reason; scripts/install-deploy-tools.sh installs it
 * into .tools/bin. CI sets BATON_REQUIRE_HELM=1 so that a missing helm fails instead.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { settings } from "../src/config.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const chart = path.join(root, "deploy/helm/baton");
const examples = path.join(root, "deploy/examples");
const release = "baton";
const namespace = "jobs";
const requiredValues = ["-f", path.join(chart, "ci/default-values.yaml")];
// Its ServiceMonitor is forced: no --api-versions, as in a GitOps render.
const allFeatures = ["-f", path.join(chart, "ci/all-features-values.yaml")];

/** A tool from .tools/bin (scripts/install-deploy-tools.sh), else from PATH when `probe` runs there. */
function findTool(name: string, probe?: string[]): string | undefined {
  const local = path.join(root, ".tools/bin", name);
  if (existsSync(local)) return local;
  return probe && spawnSync(name, probe).status === 0 ? name : undefined;
}

const helmBin = findTool("helm", ["version", "--short"]);
const manifestCheck = findTool("manifest-check");
const skipReason = !helmBin
  ? "helm is not installed: run scripts/install-deploy-tools.sh"
  : !manifestCheck
    ? "manifest-check is not built: run scripts/install-deploy-tools.sh"
    : undefined;
if (skipReason && process.env.BATON_REQUIRE_HELM === "1") throw new Error(`BATON_REQUIRE_HELM=1 but ${skipReason}`);
if (skipReason) console.warn(`test/helm.test.ts skipped: ${skipReason}`);

// The slice of the Kubernetes API these tests read.
interface SecretKeyRef {
  name: string;
  key: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: SecretKeyRef; fieldRef?: { fieldPath: string } };
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

/** A pod's first container; the test fails, naming the pod, if it has none. */
function firstContainer(pod: { containers: Container[] }): Container {
  const [container] = pod.containers;
  if (!container) throw new Error(`no container in ${JSON.stringify(pod).slice(0, 200)}`);
  return container;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  nodeSelector?: Record<string, string>;
  affinity?: Record<string, unknown>;
  tolerations?: Record<string, unknown>[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] }; configMap?: { name: string } }[];
  restartPolicy?: string;
  automountServiceAccountToken?: boolean;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}
interface Workload extends Manifest {
  spec: {
    replicas?: number;
    selector?: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

function helm(args: string[]) {
  const result = spawnSync(helmBin!, args, { cwd: root, encoding: "utf8" });
  return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr };
}

function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

/** `helm template` of the chart, as text; throws helm's message when rendering fails. */
function renderText(...args: string[]): string {
  const result = helm(["template", release, chart, "--namespace", namespace, ...args]);
  if (!result.ok) throw new Error(`helm template failed:\n${result.stderr}`);
  return result.stdout;
}

const render = (...args: string[]): Manifest[] => parseManifests(renderText(...args));

/** helm's error message for a render that must fail. */
function renderError(...args: string[]): string {
  const result = helm(["template", release, chart, "--namespace", namespace, ...args]);
  expect(result.ok, `helm template ${args.join(" ")} should have failed`).toBe(false);
  return result.stderr;
}

function find<T extends Manifest = Manifest>(manifests: Manifest[], kind: string, name?: string): T {
  const found = manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ""} in ${manifests.map((m) => m.kind).join(", ")}`);
  return found as T;
}

const kinds = (manifests: Manifest[]) => manifests.map((m) => m.kind).sort();
const env = (container: Container, name: string) => container.env?.find((e) => e.name === name);
const brokerOf = (manifests: Manifest[]) => find<Workload>(manifests, "Deployment", release);
const migrateJobOf = (manifests: Manifest[]) => find<Workload>(manifests, "Job", `${release}-migrate`);

function expectRestricted(pod: PodSpec) {
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
  for (const container of pod.containers) {
    expect(container.securityContext, container.name).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.securityContext?.capabilities?.add, container.name).toBeUndefined();
  }
}

/** No Secret objects, and every secret-looking variable comes from a Secret, never a value. */
function expectNoPlainSecrets(manifests: Manifest[]) {
  expect(kinds(manifests)).not.toContain("Secret");
  const text = JSON.stringify(manifests);
  expect(text).not.toMatch(/postgres(ql)?:\/\//);
  const sensitive = /(DATABASE_URL|PASSWORD|SECRET|TOKENS?|API_KEY|HEADERS)$/;
  for (const m of manifests.filter((m): m is Workload => m.kind === "Deployment" || m.kind === "Job")) {
    for (const container of m.spec.template.spec.containers) {
      for (const variable of container.env ?? []) {
        if (!sensitive.test(variable.name)) continue;
        expect(variable.value, `${m.kind} ${m.metadata.name}: ${variable.name}`).toBeUndefined();
        expect(variable.valueFrom?.secretKeyRef, `${m.kind} ${m.metadata.name}: ${variable.name}`).toBeDefined();
      }
    }
  }
}

describe.skipIf(skipReason !== undefined)(`Helm chart${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  const chartYaml = parse(readFileSync(path.join(chart, "Chart.yaml"), "utf8")) as { version: string; appVersion: string };

  test.for([
    ["the default values", requiredValues],
    ["every optional feature", allFeatures],
  ] as const)("helm lint --strict passes with %s", ([, values]) => {
    const result = helm(["lint", "--strict", chart, ...values]);
    expect(result.ok, result.stdout + result.stderr).toBe(true);
  });

  describe("with the default values", () => {
    const manifests = skipReason ? [] : render(...requiredValues);

    test("renders the broker, its Service, the migration hook and a disruption budget, nothing optional", () => {
      expect(kinds(manifests)).toEqual(["Deployment", "Job", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    });

    test("every object carries the standard labels", () => {
      for (const m of manifests) {
        expect(m.metadata.labels, `${m.kind} ${m.metadata.name}`).toMatchObject({
          "app.kubernetes.io/name": "baton",
          "app.kubernetes.io/instance": release,
          "app.kubernetes.io/version": chartYaml.appVersion,
          "app.kubernetes.io/managed-by": "Helm",
          "helm.sh/chart": `baton-${chartYaml.version}`,
        });
      }
    });

    test("the Deployment runs two restricted replicas of `baton serve`, spread over nodes and zones", () => {
      const deployment = brokerOf(manifests);
      const pod = deployment.spec.template.spec;
      const broker = firstContainer(pod);
      expect(deployment.spec.replicas).toBe(2);
      expect(broker.image).toBe(`baton:${chartYaml.appVersion}`);
      expect(broker.args).toEqual(["serve"]);
      expect(broker.ports).toEqual([expect.objectContaining({ containerPort: 7600 })]);
      expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector!.matchLabels);
      expectRestricted(pod);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(broker.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(broker.resources?.limits?.memory).toBeDefined();
      expect(pod.topologySpreadConstraints?.map((c) => c.topologyKey)).toEqual([
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
      ]);
      for (const constraint of pod.topologySpreadConstraints ?? []) {
        expect(constraint.labelSelector?.matchLabels).toEqual(deployment.spec.selector!.matchLabels);
      }
    });

    test("probes call grpc.health.v1 on port 7600; liveness ignores the database and outlasts a drain", () => {
      const broker = firstContainer(brokerOf(manifests).spec.template.spec);
      for (const probe of [broker.startupProbe, broker.readinessProbe]) {
        expect(probe?.grpc).toEqual({ port: 7600 });
      }
      expect(broker.livenessProbe?.grpc).toEqual({ port: 7600, service: "liveness" });
      const drainSeconds = Number(env(broker, "BATON_DRAIN_SECONDS")?.value);
      const live = broker.livenessProbe!;
      expect(live.periodSeconds! * live.failureThreshold!).toBeGreaterThan(drainSeconds);
    });

    test("the grace period covers the preStop pause plus the broker's drain", () => {
      const pod = brokerOf(manifests).spec.template.spec;
      const broker = firstContainer(pod);
      const command = broker.lifecycle?.preStop?.exec?.command;
      expect(command?.[0]).toBe("sleep");
      const pause = Number(command?.[1]);
      expect(pause).toBeGreaterThan(0);
      const drainSeconds = Number(env(broker, "BATON_DRAIN_SECONDS")?.value);
      expect(drainSeconds).toBe(25);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pause + drainSeconds);
    });

    test("the database URL comes from the named Secret, in the broker and the migration Job", () => {
      for (const workload of [brokerOf(manifests), migrateJobOf(manifests)]) {
        const container = firstContainer(workload.spec.template.spec);
        expect(env(container, "BATON_DATABASE_URL"), workload.kind).toEqual({
          name: "BATON_DATABASE_URL",
          valueFrom: { secretKeyRef: { name: "baton-database", key: "url" } },
        });
      }
      expectNoPlainSecrets(manifests);
    });

    test("auth is on by default; no tokens file without a Secret; no OTLP endpoint unless given", () => {
      const broker = firstContainer(brokerOf(manifests).spec.template.spec);
      expect(env(broker, "BATON_AUTH")?.value).toBe("on");
      expect(env(broker, "BATON_AUTH_TOKENS_FILE")).toBeUndefined();
      expect(env(broker, "OTEL_EXPORTER_OTLP_ENDPOINT")).toBeUndefined();
      expect(env(broker, "OTEL_SERVICE_NAME")?.value).toBe("baton");
    });

    test("the Service exposes gRPC as h2c and HTTP/1.1, both on the broker's one port", () => {
      const service = find(manifests, "Service");
      const spec = service.spec as { selector: Record<string, string>; ports: Record<string, unknown>[] };
      expect(spec.selector).toEqual(brokerOf(manifests).spec.selector!.matchLabels);
      expect(spec.ports).toEqual([
        expect.objectContaining({ name: "grpc", port: 7600, targetPort: "baton", appProtocol: "kubernetes.io/h2c" }),
        expect.objectContaining({ name: "http", port: 8080, targetPort: "baton", appProtocol: "http" }),
      ]);
    });

    test("`baton migrate` runs as a pre-install/pre-upgrade hook Job, outside the broker's selector", () => {
      const job = migrateJobOf(manifests);
      const annotations = job.metadata.annotations ?? {};
      expect(annotations["helm.sh/hook"]?.split(",").sort()).toEqual(["pre-install", "pre-upgrade"]);
      expect(annotations["helm.sh/hook-delete-policy"]?.split(",")).toContain("before-hook-creation");
      expect(annotations["helm.sh/hook-delete-policy"]?.split(",")).toContain("hook-succeeded");
      const pod = job.spec.template.spec;
      expect(pod.restartPolicy).toBe("Never");
      expect(firstContainer(pod).args).toEqual(["migrate"]);
      // It waits for the database as long as the broker is told to.
      const patient = firstContainer(migrateJobOf(render(...requiredValues, "--set", "config.dbStartupTimeoutSeconds=300")).spec.template.spec);
      expect(patient.env).toContainEqual({ name: "BATON_DB_STARTUP_TIMEOUT_SECONDS", value: "300" });
      expect(firstContainer(pod).image).toBe(firstContainer(brokerOf(manifests).spec.template.spec).image);
      expectRestricted(pod);
      const selector = brokerOf(manifests).spec.selector!.matchLabels;
      const jobLabels = job.spec.template.metadata.labels;
      expect(Object.entries(selector).every(([key, value]) => jobLabels[key] === value)).toBe(false);
    });
  });

  describe("with every optional feature on", () => {
    const manifests = skipReason ? [] : render(...allFeatures);

    test("renders the HorizontalPodAutoscaler, ServiceMonitor and NetworkPolicy too", () => {
      expect(kinds(manifests)).toEqual([
        "Deployment",
        "HTTPRoute",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
      ]);
      for (const m of manifests) expect(m.metadata.labels?.["app.kubernetes.io/instance"], m.kind).toBe(release);
      expectNoPlainSecrets(manifests);
    });

    test("the autoscaler (autoscaling/v2) owns the replica count", () => {
      const hpa = find(manifests, "HorizontalPodAutoscaler");
      expect(hpa.apiVersion).toBe("autoscaling/v2");
      expect(hpa.spec).toMatchObject({ scaleTargetRef: { kind: "Deployment", name: release }, minReplicas: 3, maxReplicas: 12 });
      expect(brokerOf(manifests).spec.replicas).toBeUndefined();
    });

    test("the forced ServiceMonitor scrapes /metrics on the plaintext monitoring port; the NetworkPolicy admits the listed peers to both ports", () => {
      const selector = brokerOf(manifests).spec.selector!.matchLabels;
      expect(find(manifests, "ServiceMonitor").spec).toMatchObject({
        selector: { matchLabels: selector },
        endpoints: [{ port: "monitoring", path: "/metrics" }],
      });
      expect(find(manifests, "NetworkPolicy").spec).toMatchObject({
        podSelector: { matchLabels: selector },
        ingress: [
          {
            ports: [{ port: 7600 }, { port: 7601 }],
            from: [
              { podSelector: { matchLabels: { "baton-client": "true" } } },
              { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } },
            ],
          },
        ],
      });
    });

    test("escape hatches: placement for broker and migration Job, pod metadata, extra volumes, sidecars and init containers", () => {
      const deployment = brokerOf(manifests);
      const pod = deployment.spec.template.spec;
      const job = migrateJobOf(manifests).spec.template.spec;
      for (const spec of [pod, job]) {
        expect(spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
        expect(spec.affinity).toMatchObject({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: expect.anything() } });
        expect(spec.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "jobs", effect: "NoSchedule" }]);
        expect(spec.volumes).toContainEqual({ name: "database-ca", configMap: { name: "database-ca" } });
        expect(firstContainer(spec).volumeMounts).toContainEqual({ name: "database-ca", mountPath: "/etc/baton/database-ca", readOnly: true });
      }
      const template = deployment.spec.template as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
      expect(template.metadata.annotations).toEqual({ "example.com/team": "jobs" });
      expect(template.metadata.labels["example.com/tier"]).toBe("backend");
      expect(pod.containers.map((c) => c.name)).toEqual(["baton", "log-shipper"]);
      expect(pod.initContainers?.map((c) => c.name)).toEqual(["wait-for-database"]);
      // Sidecars and init containers belong to the broker pods, not to the migration.
      expect(job.containers.map((c) => c.name)).toEqual(["migrate"]);
      expect(job.initContainers).toBeUndefined();
    });

    test("the dashboard is published by an Ingress and an HTTPRoute, both to the Service's http port", () => {
      const service = find(manifests, "Service");
      const ingress = find(manifests, "Ingress");
      expect(ingress.spec).toEqual({
        ingressClassName: "nginx",
        tls: [{ secretName: "baton-ingress-tls", hosts: ["baton.example.com"] }],
        rules: [
          {
            host: "baton.example.com",
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "http" } } } }] },
          },
        ],
      });
      expect(ingress.metadata.annotations).toEqual({ "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS" });
      const route = find(manifests, "HTTPRoute");
      expect(route.apiVersion).toBe("gateway.networking.k8s.io/v1");
      expect(route.spec).toEqual({
        parentRefs: [{ name: "public", namespace: "gateways" }],
        hostnames: ["baton.example.com"],
        rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: service.metadata.name, port: 8080 }] }],
      });
    });

    test("API tokens are mounted from their Secret; the OTLP endpoint and settings become variables", () => {
      const pod = brokerOf(manifests).spec.template.spec;
      const broker = firstContainer(pod);
      expect(env(broker, "BATON_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "baton-database", key: "database-url" });
      expect(pod.volumes).toContainEqual(expect.objectContaining({ name: "auth", secret: expect.objectContaining({ secretName: "baton-api-tokens" }) }));
      expect(broker.volumeMounts).toContainEqual({ name: "auth", mountPath: "/etc/baton/auth", readOnly: true });
      expect(env(broker, "BATON_AUTH_TOKENS_FILE")?.value).toBe("/etc/baton/auth/tokens");
      expect(env(broker, "OTEL_EXPORTER_OTLP_ENDPOINT")?.value).toBe("http://jaeger-collector.observability:4318");
      expect(env(broker, "BATON_LEASE_SECONDS")?.value).toBe("20");
      expect(env(broker, "BATON_LOG_LEVEL")?.value).toBe("debug");
      expect(env(broker, "NODE_OPTIONS")?.value).toBe("--max-old-space-size=384");
      expect(env(broker, "OTEL_EXPORTER_OTLP_HEADERS")?.valueFrom?.secretKeyRef).toEqual({ name: "otlp-auth", key: "headers" });
      expect(broker.image).toMatch(/^registry\.example\.com\/baton@sha256:[0-9a-f]{64}$/);
    });

    test("TLS: the certificate, key and client CA are mounted from their Secret and named to the broker, which opens the monitoring port", () => {
      const pod = brokerOf(manifests).spec.template.spec;
      const broker = firstContainer(pod);
      expect(pod.volumes).toContainEqual({
        name: "tls",
        secret: expect.objectContaining({ secretName: "baton-tls", items: ["tls.crt", "tls.key", "ca.crt"].map((key) => ({ key, path: key })) }),
      });
      expect(broker.volumeMounts).toContainEqual({ name: "tls", mountPath: "/etc/baton/tls", readOnly: true });
      expect(env(broker, "BATON_TLS_CERT_FILE")?.value).toBe("/etc/baton/tls/tls.crt");
      expect(env(broker, "BATON_TLS_KEY_FILE")?.value).toBe("/etc/baton/tls/tls.key");
      expect(env(broker, "BATON_TLS_CLIENT_CA_FILE")?.value).toBe("/etc/baton/tls/ca.crt");
      expect(env(broker, "BATON_MONITORING_PORT")?.value).toBe("7601");
      expect(broker.ports).toEqual([
        expect.objectContaining({ name: "baton", containerPort: 7600 }),
        expect.objectContaining({ name: "monitoring", containerPort: 7601 }),
      ]);
      const ports = (find(manifests, "Service").spec as { ports: Record<string, unknown>[] }).ports;
      expect(ports).toEqual([
        expect.objectContaining({ name: "grpc", targetPort: "baton", appProtocol: "https" }),
        expect.objectContaining({ name: "http", targetPort: "baton", appProtocol: "https" }),
        expect.objectContaining({ name: "monitoring", port: 7601, targetPort: "monitoring", appProtocol: "http" }),
      ]);
    });

    test("HTTP probes on /healthz (liveness on /livez) of the plaintext monitoring port, the native preStop sleep, and the explicit grace period", () => {
      const pod = brokerOf(manifests).spec.template.spec;
      const broker = firstContainer(pod);
      for (const probe of [broker.startupProbe, broker.readinessProbe]) {
        expect(probe?.httpGet).toEqual({ path: "/healthz", port: "monitoring" });
      }
      expect(broker.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "monitoring" });
      expect(broker.lifecycle?.preStop).toEqual({ sleep: { seconds: 10 } });
      expect(pod.terminationGracePeriodSeconds).toBe(90);
      expectRestricted(pod);
    });
  });

  test("every broker setting of src/config.ts can be set through `config`, as its BATON_* variable", () => {
    // The ports, the listener's address, the embedded database's directory, and the files the
    // chart mounts (tls, auth.existingSecret) belong to the chart.
    const chartOwned = new Set(["port", "monitoringPort", "host", "dataDir", "authTokensFile", "tlsCertFile", "tlsKeyFile", "tlsClientCaFile"]);
    const configurable = Object.entries(settings).filter(([key]) => !chartOwned.has(key));
    const sets = configurable.flatMap(([key, setting]) => ["--set", `config.${key}=${setting.default}`]);
    const broker = firstContainer(brokerOf(render(...requiredValues, ...sets)).spec.template.spec);
    for (const [key, setting] of configurable) {
      expect(env(broker, setting.env)?.value, `config.${key} (add it to values.schema.json)`).toBe(String(setting.default));
    }
  });

  test("the ServiceMonitor is left out when the cluster does not serve monitoring.coreos.com/v1, unless forced", () => {
    expect(kinds(render(...requiredValues, "--set", "serviceMonitor.enabled=true"))).not.toContain("ServiceMonitor");
    const served = render(...requiredValues, "--set", "serviceMonitor.enabled=true", "--api-versions", "monitoring.coreos.com/v1");
    expect(find(served, "ServiceMonitor").spec).toMatchObject({ endpoints: [{ port: "http", path: "/metrics" }] });
    expect(kinds(render(...requiredValues, "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.force=true"))).toContain("ServiceMonitor");
    expect(kinds(render(...requiredValues, "--set", "serviceMonitor.force=true"))).not.toContain("ServiceMonitor");
  });

  test("with TLS and the default gRPC probes, the probes call the plaintext monitoring port", () => {
    const broker = firstContainer(brokerOf(render(...requiredValues, "--set", "tls.existingSecret=baton-tls")).spec.template.spec);
    for (const probe of [broker.startupProbe, broker.readinessProbe]) expect(probe?.grpc).toEqual({ port: 7601 });
    expect(broker.livenessProbe?.grpc).toEqual({ port: 7601, service: "liveness" });
    expect(env(broker, "BATON_TLS_CLIENT_CA_FILE")).toBeUndefined();
  });

  test("an HTTPRoute without parentRefs is refused", () => {
    expect(renderError(...requiredValues, "--set", "httpRoute.enabled=true")).toMatch(/httpRoute\.parentRefs is required/);
  });

  test("rendering without database.existingSecret fails and says how to create it", () => {
    expect(renderError()).toMatch(/database\.existingSecret is required: create a Secret/);
  });

  test("a grace period shorter than preStop pause + drain is refused", () => {
    expect(renderError(...requiredValues, "--set", "terminationGracePeriodSeconds=20")).toMatch(
      /terminationGracePeriodSeconds \(20\) must exceed/,
    );
  });

  test.for([
    ["an unknown top-level key", ["--set", "bogus=1"], /additional properties 'bogus' not allowed/],
    ["an unknown nested key (typo)", ["--set", "image.tagg=1.0"], /at '\/image': additional properties 'tagg' not allowed/],
    ["a misspelt broker setting", ["--set", "config.drainSecond=5"], /at '\/config': additional properties 'drainSecond' not allowed/],
    ["a string for an integer", ["--set", "replicaCount=two"], /at '\/replicaCount': got string, want integer/],
    ["a value outside an enum", ["--set", "probes.type=tcp"], /at '\/probes\/type': value must be one of/],
    ["a TLS file as a broker setting (the chart mounts them)", ["--set", "config.tlsCertFile=/tls.crt"], /at '\/config': additional properties 'tlsCertFile' not allowed/],
    ["an extra container without an image", ["--set-json", 'extraContainers=[{"name":"sidecar"}]'], /at '\/extraContainers\/0': missing property 'image'/],
    ["a misspelt TLS key", ["--set", "tls.certkey=tls.crt"], /at '\/tls': additional properties 'certkey' not allowed/],
    [
      "the database URL as a plain variable",
      ["--set-json", 'extraEnv=[{"name":"BATON_DATABASE_URL","value":"postgres://u:p@db/baton"}]'],
      /at '\/extraEnv\/0\/name'/,
    ],
  ] as const)("the schema rejects %s", ([, args, message]) => {
    const error = renderError(...requiredValues, ...args);
    expect(error).toMatch(/values don't meet the specifications of the schema/);
    expect(error).toMatch(message);
  });

  // Field names and types against the Kubernetes API (client-go types, unknown fields refused),
  // since no API server is at hand: a misplaced or misspelt field in a template fails here.
  test.for([
    ["the default values", requiredValues],
    ["every optional feature", allFeatures],
    ["deploy/examples/values-dev.yaml", ["-f", path.join(examples, "values-dev.yaml")]],
  ] as const)("rendered with %s, every built-in object decodes strictly into its API type", ([, values]) => {
    const result = spawnSync(manifestCheck!, { input: renderText(...values), encoding: "utf8" });
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toMatch(/^ok apps\/v1 Deployment\/baton$/m);
  });

  test.for(["worker-deployment.yaml", "jaeger.yaml"])("deploy/examples/%s decodes strictly into its API types", (file) => {
    const result = spawnSync(manifestCheck!, { input: readFileSync(path.join(examples, file), "utf8"), encoding: "utf8" });
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toMatch(/^ok apps\/v1 Deployment\//m);
  });

  describe("deploy/examples", () => {
    const readExample = (file: string) => parseManifests(readFileSync(path.join(examples, file), "utf8"));

    test("values-dev.yaml passes the schema and sends traces to the example Jaeger", () => {
      const manifests = render("-f", path.join(examples, "values-dev.yaml"));
      const broker = firstContainer(brokerOf(manifests).spec.template.spec);
      const jaeger = find(readExample("jaeger.yaml"), "Service", "jaeger");
      const otlpHttp = (jaeger.spec as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === "otlp-http");
      expect(env(broker, "OTEL_EXPORTER_OTLP_ENDPOINT")?.value).toBe(`http://jaeger:${otlpHttp?.port}`);
      const cluster = find(readExample("postgres-cnpg.yaml"), "Cluster");
      // CloudNativePG names the application Secret "<cluster>-app" and keeps the URL under "uri".
      expect(env(broker, "BATON_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: `${cluster.metadata.name}-app`, key: "uri" });
      expectNoPlainSecrets(manifests);
    });

    test("the example worker reaches the chart's gRPC Service and runs restricted", () => {
      const service = find(render(...requiredValues), "Service");
      const grpcPort = (service.spec as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === "grpc")?.port;
      const worker = find<Workload>(readExample("worker-deployment.yaml"), "Deployment", "emails-worker");
      const pod = worker.spec.template.spec;
      expect(env(firstContainer(pod), "BATON_URL")?.value).toBe(`http://${service.metadata.name}:${grpcPort}`);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(firstContainer(pod).securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
    });

    test("the KEDA ScaledObject scales that worker on the broker's queue-depth gauge", () => {
      const scaled = find(readExample("keda-scaledobject.yaml"), "ScaledObject", "emails-worker");
      const spec = scaled.spec as { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string> }[] };
      expect(scaled.apiVersion).toBe("keda.sh/v1alpha1");
      expect(spec.scaleTargetRef.name).toBe("emails-worker");
      expect(spec.triggers).toEqual([
        expect.objectContaining({ type: "prometheus", metadata: expect.objectContaining({ query: expect.stringContaining('baton_jobs{queue="emails",state="available"}') }) }),
      ]);
    });
  });
});
