package dev.externaldbsync.load;

import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.config.TargetConfigs;
import dev.externaldbsync.schema.MigrateMode;
import dev.externaldbsync.schema.SchemaMigrations;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class FixtureTest {

    private static final List<String> TABLES = List.of("Project", "Tenancy", "EnvironmentConfigOverride", "ProjectUser",
            "ContactChannel", "AuthMethod", "PasswordAuthMethod");

    static TestDatabase migratedDatabase(String prefix) {
        TestDatabase db = TestPostgres.createDatabase(prefix);
        SchemaMigrations.migrate(db.dataSource(), MigrateMode.ALL);
        return db;
    }

    static Fixture.Result runFixture(String... args) throws Exception {
        Fixture fixture = new Fixture();
        CommandLine cl = new CommandLine(fixture);
        cl.parseArgs(args);
        return fixture.run(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    }

    private static Map<String, Long> counts(TestDatabase db) {
        Map<String, Long> counts = new java.util.LinkedHashMap<>();
        for (String table : TABLES) {
            counts.put(table, db.queryLong("SELECT count(*) FROM \"" + table + "\""));
        }
        return counts;
    }

    @Test
    void createsExactlyTheRequestedShapeAndIsIdempotent() throws Exception {
        TestDatabase db = migratedDatabase("load_fixture");
        String target = "postgresql://sync:s3cret@target.example:5432/shared";
        String[] args = {"--internal-url", db.postgresUrl(), "--small-tenancies", "50", "--huge-tenancies", "2",
                "--users-per-huge", "250", "--batch-size", "40", "--target-url", target, "--seed", "t1"};

        Fixture.Result first = runFixture(args);

        Map<String, Long> expected = Map.of("Project", 52L, "Tenancy", 52L, "EnvironmentConfigOverride", 52L,
                "ProjectUser", 550L, "ContactChannel", 550L, "AuthMethod", 550L, "PasswordAuthMethod", 550L);
        assertThat(counts(db)).containsAllEntriesOf(expected);
        assertThat(first.inserted()).containsAllEntriesOf(expected);
        assertThat(first.totalRows()).isEqualTo(52 * 3 + 550 * 4);
        // One primary, auth-enabled email per user, and each huge tenancy has its users.
        assertThat(db.queryLong("""
                SELECT count(*) FROM "ProjectUser" u WHERE (SELECT count(*) FROM "ContactChannel" c
                  WHERE c."tenancyId" = u."tenancyId" AND c."projectUserId" = u."projectUserId"
                    AND c."isPrimary" = 'TRUE' AND c."usedForAuth" = 'TRUE' AND c."type" = 'EMAIL') = 1""")).isEqualTo(550);
        assertThat(db.queryRows("""
                SELECT count(*) FROM "ProjectUser" GROUP BY "tenancyId" HAVING count(*) > 1""")).hasSize(2)
                .allSatisfy(row -> assertThat(((Number) row.get(0)).longValue()).isEqualTo(250));
        assertThat(db.queryLong("""
                SELECT count(*) FROM "PasswordAuthMethod" WHERE "passwordHash" ~ '^\\$2a\\$13\\$[./A-Za-z0-9]{53}$'"""))
                .isEqualTo(550);
        assertThat(db.queryLong("""
                SELECT count(*) FROM "ProjectUser" u JOIN "Tenancy" t ON t."id" = u."tenancyId"
                WHERE u."mirroredProjectId" = t."projectId" AND u."mirroredBranchId" = t."branchId" """)).isEqualTo(550);
        for (List<Object> row : db.queryRows("SELECT \"config\"::text FROM \"EnvironmentConfigOverride\"")) {
            TargetConfigs configs = TargetConfigParser.parse((String) row.get(0));
            assertThat(configs.errors()).isEmpty();
            assertThat(configs.targets()).extracting(TargetConfig::id).containsExactly("main");
            assertThat(configs.targets().get(0).url().reactiveUri()).isEqualTo(target);
        }

        Fixture.Result again = runFixture(args);
        assertThat(again.totalRows()).isZero();
        assertThat(counts(db)).containsAllEntriesOf(expected);

        // A larger count adds only what is missing.
        args[3] = "60";
        Fixture.Result more = runFixture(args);
        assertThat(more.inserted()).containsEntry("Tenancy", 10L).containsEntry("ProjectUser", 10L);
        assertThat(counts(db)).containsEntry("Tenancy", 62L).containsEntry("ContactChannel", 560L);
    }

    @Test
    void perTenancyTargetsFollowTheTemplateAndCanBeCreated() throws Exception {
        TestDatabase db = migratedDatabase("load_fixture_per");
        String prefix = db.name() + "_tenant_";
        String template = "postgresql://" + db.user() + ":" + db.password() + "@" + db.host() + ":" + db.port() + "/"
                + prefix + "%d";
        Fixture fixture = new Fixture();
        int exit = new CommandLine(fixture).execute("--internal-url", db.postgresUrl(), "--small-tenancies", "3",
                "--huge-tenancies", "1", "--users-per-huge", "5", "--target-per-tenancy", "--target-url-template",
                template, "--create-databases", "--huge-number-base", "100", "--seed", "per");
        assertThat(exit).isZero();

        List<String> databases = db.queryRows("SELECT datname FROM pg_database WHERE datname LIKE ? ORDER BY datname",
                prefix + "%").stream().map(r -> (String) r.get(0)).toList();
        assertThat(databases).containsExactly(prefix + "1", prefix + "101", prefix + "2", prefix + "3");
        List<String> configured = db.queryRows("SELECT \"config\"::text FROM \"EnvironmentConfigOverride\"").stream()
                .map(r -> TargetConfigParser.parse((String) r.get(0)).targets().get(0).url().database()).sorted().toList();
        assertThat(configured).containsExactlyElementsOf(databases);
        assertThat(db.queryLong("SELECT count(*) FROM \"ProjectUser\"")).isEqualTo(8);
    }
}
