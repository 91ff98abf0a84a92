package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.UUID;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/**
 * An operator's Stack Auth database whose tables belong to the application's own role, with the sync layer applied by
 * another role (a dedicated migration or admin role). Before V60 the capture triggers only wrote the application's
 * own tables; the change log is a table of the sync layer, and the application must keep writing all the same.
 */
class CaptureAsTheApplicationRoleTest {

    @Test
    void theApplicationKeepsWritingWhenAnotherRoleAppliedTheSyncLayer() throws IOException {
        TestDatabase admin = TestPostgres.createDatabase("capture_roles");
        String role = "stack_app_" + admin.name().replaceAll("\\D", "");
        admin.execute("CREATE ROLE " + role + " LOGIN PASSWORD 'app-password'",
                "GRANT CREATE ON SCHEMA public TO " + role);
        TestDatabase app = new TestDatabase(admin.name(), admin.host(), admin.port(), role, "app-password");
        for (String migration : IndexedMigrationResources.readIndex("db/internal")) {
            app.execute(SchemaMigrationsTest.resource("db/internal/" + migration));
        }

        SchemaMigrations.migrate(admin.dataSource(), MigrateMode.SYNC);

        StackAuthFixtures asTheApplication = new StackAuthFixtures(app);
        Tenancy tenancy = asTheApplication.createTenancy();
        UUID user = asTheApplication.createUser(tenancy, "Signed up", "app@example.com");
        asTheApplication.renameUser(tenancy, user, "Renamed");
        asTheApplication.deleteUser(tenancy, user);
        assertThat(ChangeLog.entries(admin, tenancy.id())).extracting(ChangeLog.Entry::tableName)
                .containsExactlyInAnyOrder("ProjectUser", "ContactChannel", "ProjectUser", // sign-up
                        "ProjectUser", // rename
                        "ProjectUser", "ContactChannel", "ProjectUser"); // delete
    }
}
