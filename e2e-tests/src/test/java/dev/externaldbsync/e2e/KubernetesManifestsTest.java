package dev.externaldbsync.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;

/**
 * Every manifest under {@code k8s/} parses into fabric8's typed Kubernetes model with no unknown field, and the
 * deployment invariants hold against the services' real configuration (ports, probe paths, env keys).
 */
class KubernetesManifestsTest {

    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "Deployment", Deployment.class, "Service", Service.class, "PodDisruptionBudget", PodDisruptionBudget.class,
            "HorizontalPodAutoscaler", HorizontalPodAutoscaler.class, "NetworkPolicy", NetworkPolicy.class,
            "Job", Job.class, "ConfigMap", ConfigMap.class, "Secret", Secret.class, "Namespace", Namespace.class);
    private static final List<String> SERVICES = List.of("sequencer-service", "poller-service", "sync-engine-service");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

    private static final List<HasMetadata> RESOURCES = new ArrayList<>();

    @BeforeAll
    static void parseEveryManifest() throws IOException {
        Path k8s = ServiceProcess.repoRoot().resolve("k8s");
        try (Stream<Path> files = Files.walk(k8s)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                if (file.getFileName().toString().equals("kustomization.yaml")) {
                    assertKustomizationResourcesExist(file);
                    continue;
                }
                try (YAMLParser parser = new YAMLFactory().createParser(file.toFile())) {
                    for (JsonNode doc : YAML.readValues(parser, JsonNode.class).readAll()) {
                        String kind = doc.path("kind").asText();
                        assertThat(KINDS).as("kind %s in %s", kind, file).containsKey(kind);
                        HasMetadata resource = YAML.treeToValue(doc, KINDS.get(kind));
                        assertNoUnknownFields(resource, file + " " + kind + "/" + resource.getMetadata().getName());
                        RESOURCES.add(resource);
                    }
                }
            }
        }
        assertThat(RESOURCES).hasSizeGreaterThan(10);
    }

    @Test
    void everyServiceHasADeploymentServiceAndDisruptionBudgetThatSelectIt() {
        for (String service : SERVICES) {
            Deployment deployment = one(Deployment.class, service);
            Map<String, String> labels = deployment.getSpec().getTemplate().getMetadata().getLabels();
            assertThat(deployment.getSpec().getSelector().getMatchLabels()).isEqualTo(Map.of("app.kubernetes.io/name", service));
            assertThat(labels).containsAllEntriesOf(deployment.getSpec().getSelector().getMatchLabels());
            assertThat(all(Service.class)).anySatisfy(s -> assertThat(s.getSpec().getSelector()).isEqualTo(
                    deployment.getSpec().getSelector().getMatchLabels()));
            assertThat(all(PodDisruptionBudget.class)).anySatisfy(p -> assertThat(p.getSpec().getSelector().getMatchLabels())
                    .isEqualTo(deployment.getSpec().getSelector().getMatchLabels()));
        }
    }

    @Test
    void rollingUpdatesNeverDropCapacityAndDrainInsideTheGracePeriod() throws IOException {
        for (String service : SERVICES) {
            Deployment deployment = one(Deployment.class, service);
            assertThat(deployment.getSpec().getStrategy().getType()).isEqualTo("RollingUpdate");
            assertThat(deployment.getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isZero();
            var pod = deployment.getSpec().getTemplate().getSpec();
            Container container = pod.getContainers().get(0);
            long preStop = container.getLifecycle().getPreStop().getSleep().getSeconds();
            Duration shutdown = Duration.parse("PT" + env(all(ConfigMap.class).get(0).getData(), "QUARKUS_SHUTDOWN_TIMEOUT")
                    .toUpperCase());
            assertThat(pod.getTerminationGracePeriodSeconds()).as(service)
                    .isGreaterThan(preStop + shutdown.toSeconds());
        }
    }

    @Test
    void probesPortsAndImagesMatchEachServicesConfiguration() throws IOException {
        for (String service : SERVICES) {
            int port = defaultPort(service);
            Container container = one(Deployment.class, service).getSpec().getTemplate().getSpec().getContainers().get(0);
            assertThat(container.getImage()).startsWith("external-db-sync/" + service + ":");
            assertThat(container.getPorts()).singleElement().satisfies(p -> {
                assertThat(p.getContainerPort()).isEqualTo(port);
                assertThat(p.getName()).isEqualTo("http");
            });
            assertThat(value(container.getEnv(), "QUARKUS_HTTP_PORT")).isEqualTo(Integer.toString(port));
            assertProbe(container.getStartupProbe(), "/q/health/started");
            assertProbe(container.getReadinessProbe(), "/q/health/ready");
            assertProbe(container.getLivenessProbe(), "/q/health/live");
        }
    }

    @Test
    void everyContainerHasRequestsAndLimits() {
        List<Container> containers = new ArrayList<>();
        all(Deployment.class).forEach(d -> containers.addAll(d.getSpec().getTemplate().getSpec().getContainers()));
        all(Job.class).forEach(j -> containers.addAll(j.getSpec().getTemplate().getSpec().getContainers()));
        assertThat(containers).hasSize(4).allSatisfy(c -> {
            assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
            assertThat(c.getResources().getLimits()).containsKeys("cpu", "memory");
        });
    }

    @Test
    void servicesGetExactlyTheOperatorVariablesTheyRead() {
        Set<String> configMapKeys = all(ConfigMap.class).get(0).getData().keySet();
        assertThat(configMapKeys).containsExactlyInAnyOrder("SYNC_MIGRATE_AT_START", "SYNC_ENGINE_URL",
                "QUARKUS_SHUTDOWN_TIMEOUT");
        assertThat(env(all(ConfigMap.class).get(0).getData(), "SYNC_MIGRATE_AT_START")).isEqualTo("none");
        Map<String, Set<String>> secretsByService = Map.of(
                "sequencer-service", Set.of("INTERNAL_DATABASE_URL", "ADMIN_TOKEN"),
                "poller-service", Set.of("INTERNAL_DATABASE_URL", "SYNC_SIGNING_SECRET", "ADMIN_TOKEN"),
                "sync-engine-service", Set.of("INTERNAL_DATABASE_URL", "SYNC_SIGNING_SECRET", "ADMIN_TOKEN"));
        Set<String> secretKeys = all(Secret.class).get(0).getStringData().keySet();
        secretsByService.forEach((service, expected) -> {
            Container container = one(Deployment.class, service).getSpec().getTemplate().getSpec().getContainers().get(0);
            Set<String> fromSecret = container.getEnv().stream().filter(e -> e.getValueFrom() != null)
                    .peek(e -> assertThat(e.getValueFrom().getSecretKeyRef().getKey()).isEqualTo(e.getName()))
                    .map(EnvVar::getName).collect(Collectors.toSet());
            assertThat(fromSecret).as(service).isEqualTo(expected);
            assertThat(secretKeys).containsAll(expected);
        });
    }

    @Test
    void theMigrationJobMigratesAndExitsAndOnlyThePollerMayCallTheEngine() {
        Container migrate = all(Job.class).get(0).getSpec().getTemplate().getSpec().getContainers().get(0);
        assertThat(value(migrate.getEnv(), "SYNC_MIGRATE_ONLY")).isEqualTo("true");
        assertThat(value(migrate.getEnv(), "SYNC_MIGRATE_AT_START")).isIn("sync", "all");

        NetworkPolicy policy = all(NetworkPolicy.class).get(0);
        assertThat(policy.getSpec().getPodSelector().getMatchLabels())
                .isEqualTo(Map.of("app.kubernetes.io/name", "sync-engine-service"));
        assertThat(policy.getSpec().getIngress()).anySatisfy(rule -> assertThat(rule.getFrom().get(0).getPodSelector()
                .getMatchLabels()).isEqualTo(Map.of("app.kubernetes.io/name", "poller-service")));

        HorizontalPodAutoscaler hpa = all(HorizontalPodAutoscaler.class).get(0);
        assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo("sync-engine-service");
        assertThat(env(all(ConfigMap.class).get(0).getData(), "SYNC_ENGINE_URL"))
                .isEqualTo("http://" + one(Service.class, "sync-engine").getMetadata().getName() + ":"
                        + one(Service.class, "sync-engine").getSpec().getPorts().get(0).getPort());
    }

    private static void assertProbe(Probe probe, String path) {
        assertThat(probe).as(path).isNotNull();
        assertThat(probe.getHttpGet().getPath()).isEqualTo(path);
        assertThat(probe.getHttpGet().getPort().getStrVal()).isEqualTo("http");
    }

    /** The port in the service's application.properties: {@code quarkus.http.port=${QUARKUS_HTTP_PORT:8081}}. */
    private static int defaultPort(String service) throws IOException {
        Properties properties = new Properties();
        try (var in = Files.newInputStream(ServiceProcess.repoRoot().resolve(service)
                .resolve("src/main/resources/application.properties"))) {
            properties.load(in);
        }
        Matcher m = Pattern.compile("\\$\\{QUARKUS_HTTP_PORT:(\\d+)}").matcher(properties.getProperty("quarkus.http.port"));
        assertThat(m.matches()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private static String env(Map<String, String> data, String key) {
        assertThat(data).containsKey(key);
        return data.get(key);
    }

    private static String value(List<EnvVar> env, String name) {
        return env.stream().filter(e -> e.getName().equals(name)).findFirst().orElseThrow().getValue();
    }

    private static <T extends HasMetadata> List<T> all(Class<T> type) {
        return RESOURCES.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private static <T extends HasMetadata> T one(Class<T> type, String name) {
        return all(type).stream().filter(r -> r.getMetadata().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name));
    }

    private static void assertKustomizationResourcesExist(Path kustomization) throws IOException {
        JsonNode resources = YAML.readTree(kustomization.toFile()).path("resources");
        for (JsonNode resource : resources) {
            assertThat(kustomization.getParent().resolve(resource.asText()).normalize()).as("%s lists %s", kustomization,
                    resource.asText()).exists();
        }
    }

    /** fabric8 keeps unknown YAML keys in additionalProperties instead of failing: make that a failure. */
    private static void assertNoUnknownFields(Object root, String where) {
        walk(root, where, new IdentityHashMap<>());
    }

    private static void walk(Object node, String path, IdentityHashMap<Object, Boolean> seen) {
        if (node == null || seen.put(node, Boolean.TRUE) != null) {
            return;
        }
        if (node instanceof Collection<?> collection) {
            collection.forEach(item -> walk(item, path + "[]", seen));
            return;
        }
        if (node instanceof Map<?, ?> map) {
            map.values().forEach(value -> walk(value, path + "{}", seen));
            return;
        }
        if (!node.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method method : node.getClass().getMethods()) {
            if (method.getParameterCount() != 0 || !method.getName().startsWith("get") || method.getName().equals("getClass")) {
                continue;
            }
            try {
                Object value = method.invoke(node);
                if (method.getName().equals("getAdditionalProperties")) {
                    assertThat((Map<?, ?>) value).as("unknown fields at %s (%s)", path, node.getClass().getSimpleName())
                            .isNullOrEmpty();
                } else {
                    walk(value, path + "." + method.getName().substring(3), seen);
                }
            } catch (ReflectiveOperationException e) {
                throw new AssertionError("cannot inspect " + path + "." + method.getName(), e);
            }
        }
    }
}
