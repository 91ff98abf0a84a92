package dev.externaldbsync.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.junit.jupiter.api.Test;

class TargetConfigParserTest {

    @Test
    void readsTheNestedForm() {
        TargetConfigs configs = TargetConfigParser.parse("""
                {"dbSync": {"externalDatabases": {"main": {"type": "postgres",
                  "connectionString": "postgresql://u:p@h:5432/d"}}}}""");

        assertThat(configs.errors()).isEmpty();
        assertThat(configs.targets()).singleElement().satisfies(t -> {
            assertThat(t.id()).isEqualTo("main");
            assertThat(t.type()).isEqualTo("postgres");
            assertThat(t.url().database()).isEqualTo("d");
        });
    }

    @Test
    void readsTheDottedFormsStackAuthWrites() {
        assertThat(TargetConfigParser.parse("""
                {"dbSync.externalDatabases": {"a": {"type": "postgres", "connectionString": "postgresql://h/a"}}}""")
                .targets()).extracting(TargetConfig::id).containsExactly("a");
        assertThat(TargetConfigParser.parse("""
                {"dbSync.externalDatabases.b": {"type": "postgres", "connectionString": "postgresql://h/b"}}""")
                .targets()).extracting(TargetConfig::id).containsExactly("b");
    }

    @Test
    void aDottedKeyReplacesEverythingBelowIt() {
        TargetConfigs configs = TargetConfigParser.parse("""
                {"dbSync": {"externalDatabases": {"old": {"type": "postgres", "connectionString": "postgresql://h/o"}}},
                 "dbSync.externalDatabases": {"new": {"type": "postgres", "connectionString": "postgresql://h/n"}}}""");

        assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("new");
    }

    @Test
    void eachBadEntryIsReportedOnItsOwnAndGoodEntriesSurvive() {
        TargetConfigs configs = TargetConfigParser.parse("""
                {"dbSync": {"externalDatabases": {
                  "good": {"type": "postgres", "connectionString": "postgresql://u:p@h/good"},
                  "mysql": {"type": "mysql", "connectionString": "mysql://u:hunter2@h/x"},
                  "untyped": {"connectionString": "postgresql://h/x"},
                  "nostring": {"type": "postgres"},
                  "numeric": {"type": "postgres", "connectionString": 5},
                  "broken": {"type": "postgres", "connectionString": "postgresql://u:hunter2@/x"},
                  "scalar": "postgresql://h/x",
                  "removed": null}}}""");

        assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("good");
        assertThat(configs.errors()).extracting(TargetConfigError::targetId)
                .containsExactly("mysql", "untyped", "nostring", "numeric", "broken", "scalar");
        assertThat(configs.errors()).extracting(TargetConfigError::message).anySatisfy(
                m -> assertThat(m).isEqualTo("unknown type 'mysql' (supported: postgres)"));
        assertThat(configs.errors()).extracting(TargetConfigError::message)
                .allSatisfy(m -> assertThat(m).doesNotContain("hunter2"));
    }

    @Test
    void noDbSyncMeansNoTargetsAndGarbageIsAnError() {
        assertThat(TargetConfigParser.parse("{\"auth\": {}}").isEmpty()).isTrue();
        assertThat(TargetConfigParser.parse("{\"dbSync\": {\"externalDatabases\": 3}}").errors()).hasSize(1);
        assertThat(TargetConfigParser.parse("{not json").errors()).singleElement()
                .satisfies(e -> assertThat(e.message()).startsWith("environment config is not valid JSON"));
    }

    @Test
    void targetIdsOutsideTheSafePatternAreRefusedAndShownSanitised() {
        TargetConfigs configs = TargetConfigParser.parse("""
                {"dbSync": {"externalDatabases": {
                  "ok_Id-1": {"type": "postgres", "connectionString": "postgresql://u:p@h/a"},
                  "line\\nbreak": {"type": "postgres", "connectionString": "postgresql://u:p@h/b"},
                  "%s": {"type": "postgres", "connectionString": "postgresql://u:p@h/c"}}}}""".formatted("x".repeat(65)));

        assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("ok_Id-1");
        assertThat(configs.errors()).extracting(TargetConfigError::targetId)
                .containsExactly("!line_break", "!" + "x".repeat(64));
        assertThat(configs.errors()).allSatisfy(e -> {
            assertThat(e.message()).contains("target id must match");
            assertThat(e.targetId() + e.message()).doesNotContain("\n");
        });
    }

    @Test
    void onlySslmodeApplicationNameAndOnePlainSchemaMayBeGivenAsParameters() {
        TargetConfigs configs = TargetConfigParser.parse("""
                {"dbSync": {"externalDatabases": {
                  "tls": {"type": "postgres", "connectionString": "postgresql://u:p@h/a?sslmode=verify-full&application_name=x"},
                  "hidden": {"type": "postgres", "connectionString": "postgresql://u:p@decoy.example.invalid/d?port=1&host=localhost"},
                  "lax": {"type": "postgres", "connectionString": "postgresql://u:p@h/d?socketTimeout=0"},
                  "badtls": {"type": "postgres", "connectionString": "postgresql://u:p@h/d?sslmode=sometimes"},
                  "secret": {"type": "postgres", "connectionString": "postgresql://u:p@h/d?sslpassword=hunter2"},
                  "schema": {"type": "postgres", "connectionString": "postgresql://u:p@h/d?currentSchema=tenant_7"},
                  "paths": {"type": "postgres", "connectionString": "postgresql://u:p@h/d?currentSchema=pg_catalog,public"}}}}""");

        assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("tls", "schema");
        Map<String, String> messages = new java.util.LinkedHashMap<>();
        configs.errors().forEach(e -> messages.put(e.targetId(), e.message()));
        assertThat(messages.get("hidden")).contains("parameter 'host' is not allowed");
        assertThat(messages.get("lax")).contains("parameter 'socketTimeout' is not allowed");
        assertThat(messages.get("badtls")).contains("sslmode must be one of");
        assertThat(messages.get("secret")).contains("'sslpassword'").doesNotContain("hunter2");
        assertThat(messages.get("paths")).contains("currentSchema must be one lower-case schema name");
    }

    private static String targets(int count) {
        StringBuilder json = new StringBuilder("{\"dbSync\": {\"externalDatabases\": {");
        for (int i = 0; i < count; i++) {
            json.append(i == 0 ? "" : ",").append("\"t").append(i)
                    .append("\": {\"type\": \"postgres\", \"connectionString\": \"postgresql://h/d\"}");
        }
        return json.toString();
    }

    @Test
    void moreTargetsThanTheOperatorAllowsAreOneErrorForTheTenancyAndTheRulesRefuseTargets() {
        String four = targets(4) + ", \"gone\": null}}}";
        String three = targets(3) + "}}}";
        TargetConfigParser.install(new TargetConfigParser.Rules() {
            @Override
            public int maxTargetsPerTenancy() {
                return 3;
            }

            @Override
            public String refusal(TargetConfig target) {
                return target.id().equals("t1") ? "refused for the test" : null;
            }
        });
        try {
            assertThat(TargetConfigParser.parse(four).targets()).isEmpty();
            assertThat(TargetConfigParser.parse(four).errors()).singleElement().satisfies(e -> {
                assertThat(e.targetId()).isEqualTo("*");
                assertThat(e.message()).contains("4 targets configured, at most 3");
            });
            TargetConfigs configs = TargetConfigParser.parse(three);
            assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("t0", "t2");
            assertThat(configs.errors()).singleElement().satisfies(e -> assertThat(e.message())
                    .isEqualTo("refused for the test"));
        } finally {
            TargetConfigParser.install(null);
        }
    }
}
