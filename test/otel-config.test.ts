/**
 * The OpenTelemetry variables as `serve` reads them: the protocol and where it sends, the
 * sampler, the resource detectors and service.name, and a clear start-up error for every value
 * Baton does not implement. Also the job sampler's decisions, the same as the SDK's.
 */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { JobSampling } from "../src/telemetry/job-sampling.js";

const tracing = (env: NodeJS.ProcessEnv) => loadConfig(env).tracing;

describe("where spans go", () => {
  test("http/protobuf by default, the general endpoint with /v1/traces appended", () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toMatchObject({ url: "http://collector:4318/v1/traces", protocol: "http/protobuf" });
  });

  test("gRPC takes the endpoint as it is; the traces variables win over the general ones", () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatchObject({
      url: "http://collector:4317",
      protocol: "grpc",
    });
    expect(
      tracing({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toMatchObject({ url: "http://traces:4318/custom", protocol: "http/json" });
  });

  test("off without an endpoint, with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none", () => {
    expect(tracing({}).url).toBeUndefined();
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }).url).toBeUndefined();
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }).url).toBeUndefined();
  });

  test("an unknown protocol or exporter is a start-up error that names the choices", () => {
    expect(() => tracing({ OTEL_EXPORTER_OTLP_PROTOCOL: "http" })).toThrow('OTEL_EXPORTER_OTLP_PROTOCOL must be one of grpc, http/protobuf, http/json; got "http"');
    expect(() => tracing({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" })).toThrow(
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be one of grpc, http/protobuf, http/json; got "thrift"',
    );
    expect(() => tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(
      'OTEL_TRACES_EXPORTER must be otlp or none; got "zipkin"',
    );
  });
});

describe("the sampler", () => {
  test("parentbased_always_on by default; OTEL_TRACES_SAMPLER_ARG is the ratio of the ratio samplers", () => {
    expect(tracing({}).sampler).toEqual({ name: "parentbased_always_on", ratio: 1 });
    expect(tracing({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }).sampler).toEqual({
      name: "parentbased_traceidratio",
      ratio: 0.25,
    });
  });

  test("an unknown sampler or a ratio outside 0..1 is a start-up error", () => {
    expect(() => tracing({ OTEL_TRACES_SAMPLER: "jaeger_remote" })).toThrow(
      'OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; got "jaeger_remote"',
    );
    expect(() => tracing({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" })).toThrow(
      'OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 for traceidratio; got "1.5"',
    );
    expect(() => tracing({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "half" })).toThrow(/OTEL_TRACES_SAMPLER_ARG must be a number/);
  });

  // Trace ids the SDK's ratio sampler keeps and drops at 0.5: it compares the XOR of the
  // id's four 32-bit words with half of 2^32.
  const kept = "00000000000000000000000000000001";
  const dropped = "000000000000000000000000ffffffff";

  test("a job's spans exist only under a sampled parent: parentbased_* keep them, the others decide by the trace id", () => {
    expect(new JobSampling({ name: "parentbased_traceidratio", ratio: 0.5 }).sampled(dropped)).toBe(true);
    const ratio = new JobSampling({ name: "traceidratio", ratio: 0.5 });
    expect(ratio.sampled(kept)).toBe(true);
    expect(ratio.sampled(dropped)).toBe(false);
    expect(new JobSampling({ name: "always_off", ratio: 1 }).sampled(kept)).toBe(false);
  });

  test("workers get an unsampled traceparent for dropped traces, and an unsampled one stays unsampled", () => {
    const sampling = new JobSampling({ name: "traceidratio", ratio: 0.5 });
    expect(sampling.deliveryTraceparent(`00-${dropped}-00000000000000aa-01`)).toBe(`00-${dropped}-00000000000000aa-00`);
    expect(sampling.deliveryTraceparent(`00-${kept}-00000000000000aa-01`)).toBe(`00-${kept}-00000000000000aa-01`);
    expect(sampling.deliveryTraceparent(`00-${kept}-00000000000000aa-00`)).toBe(`00-${kept}-00000000000000aa-00`);
  });

  test("under parentbased_*, a job that starts a trace takes the root sampler when it is created", () => {
    const jobs: { headers: Record<string, string>; chainId?: string; parentId?: string }[] = [
      { headers: {} },
      { headers: { traceparent: `00-${kept}-00000000000000aa-01` } },
      { headers: {}, chainId: "7" },
      { headers: {}, parentId: "7" },
    ];
    const [root, ...others] = new JobSampling({ name: "parentbased_always_off", ratio: 1 }).startTraces(jobs);
    // Dropped: an unsampled trace of its own, so nothing of it is recorded.
    expect(root!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    // A producer's, a chain's or a parent's trace is not the root sampler's to decide.
    expect(others).toEqual(jobs.slice(1));
    // The default keeps every root: the database starts a sampled trace as before.
    expect(new JobSampling({ name: "parentbased_always_on", ratio: 1 }).startTraces(jobs)).toBe(jobs);
  });
});

describe("the resource", () => {
  test("service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else baton", () => {
    expect(tracing({}).serviceName).toBe("baton");
    expect(tracing({ OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,service.name=jobs%20broker" }).serviceName).toBe("jobs broker");
    expect(tracing({ OTEL_RESOURCE_ATTRIBUTES: "service.name=jobs", OTEL_SERVICE_NAME: "queue" }).serviceName).toBe("queue");
  });

  test("every detector by default; none, a list, or a clear error for a name the Node SDK does not know", () => {
    expect(tracing({}).resourceDetectors).toEqual(["env", "host", "os", "process", "serviceinstance"]);
    expect(tracing({ OTEL_NODE_RESOURCE_DETECTORS: "none" }).resourceDetectors).toEqual([]);
    expect(tracing({ OTEL_NODE_RESOURCE_DETECTORS: "env, host" }).resourceDetectors).toEqual(["env", "host"]);
    expect(() => tracing({ OTEL_NODE_RESOURCE_DETECTORS: "env,gcp" })).toThrow(
      'OTEL_NODE_RESOURCE_DETECTORS must be one of env, host, os, process, serviceinstance; got "gcp"',
    );
  });
});
