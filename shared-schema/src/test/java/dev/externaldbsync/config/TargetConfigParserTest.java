package dev.externaldbsync.config;

import static org.assertj.core.api.Assertions.assertThat;

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
}
