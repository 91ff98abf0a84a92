package dev.externaldbsync.engine;

import static dev.externaldbsync.engine.EngineTestSupport.assertMirrors;
import static dev.externaldbsync.engine.EngineTestSupport.row;
import static dev.externaldbsync.engine.EngineTestSupport.rows;
import static dev.externaldbsync.engine.EngineTestSupport.stamp;
import static dev.externaldbsync.engine.EngineTestSupport.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.UUID;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InjectTestDatabase;
import dev.externaldbsync.testing.InternalDatabaseResource;
import dev.externaldbsync.testing.StackAuthFixtures;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.path.json.JsonPath;

/**
 * Email outboxes, project permissions, notification preferences, refresh tokens and connected accounts reach the
 * target exactly (mission §12, second paragraph), including a deleted user's cascade and the sessions its writer
 * deletes alongside.
 */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class ActivitySyncTest {

    /** The 32 email_outboxes columns as text, in DDL order. */
    private static final String EMAIL_COLUMNS = """
            id::text, status, simple_status, created_with, email_draft_id, email_programmatic_call_template_id, theme_id,
            is_high_priority::text, rendered_is_transactional::text, rendered_subject, rendered_notification_category_id,
            started_rendering_at::text, finished_rendering_at::text, render_error, scheduled_at::text, created_at::text,
            started_sending_at::text, finished_sending_at::text, server_error, sent_at::text, delivered_at::text,
            opened_at::text, clicked_at::text, unsubscribed_at::text, marked_as_spam_at::text, bounced_at::text,
            delivery_delayed_at::text, can_have_delivery_info::text, skipped_reason, skipped_details::text,
            send_retries::text, is_paused::text""";

    /** Part C.8 restated on the internal row, independently of the mapping's SQL. */
    private static final String EMAIL_EXPECTED = """
            "id"::text, "status"::text, "simpleStatus"::text, "createdWith"::text, "emailDraftId",
            "emailProgrammaticCallTemplateId", "themeId", "isHighPriority"::text, "renderedIsTransactional"::text,
            "renderedSubject", "renderedNotificationCategoryId", "startedRenderingAt"::text, "finishedRenderingAt"::text,
            "renderErrorExternalMessage", "scheduledAt"::text, "createdAt"::text, "startedSendingAt"::text,
            "finishedSendingAt"::text, "sendServerErrorExternalMessage", "sentAt"::text, "deliveredAt"::text,
            "openedAt"::text, "clickedAt"::text, "unsubscribedAt"::text, "markedAsSpamAt"::text, "bouncedAt"::text,
            "deliveryDelayedAt"::text, "canHaveDeliveryInfo"::text, "skippedReason"::text, "skippedDetails"::text,
            "sendRetries"::text, "isPaused"::text""";

    @InjectTestDatabase
    TestDatabase internal;

    StackAuthFixtures fixtures;
    Tenancy tenancy;
    TestDatabase target;

    @BeforeEach
    void tenancyWithTarget() {
        fixtures = new StackAuthFixtures(internal);
        tenancy = fixtures.createTenancy();
        target = TestPostgres.createDatabase("activity");
        fixtures.configureTargets(tenancy, Map.of("main", target.postgresUrl()));
    }

    private JsonPath stampAndSync() {
        stamp(internal);
        JsonPath result = sync(tenancy.id());
        assertThat(result.getString("results[0].targets[0].outcome")).as(result.prettify()).isEqualTo("SYNCED");
        return result;
    }

    private String email(UUID id) {
        return row(target, "SELECT " + EMAIL_COLUMNS + " FROM email_outboxes WHERE id = ?", id);
    }

    private String expectedEmail(UUID id) {
        return row(internal, "SELECT " + EMAIL_EXPECTED + " FROM \"EmailOutbox\" WHERE \"id\" = ?", id);
    }

    @Test
    void emailOutboxesFollowTheirLifecycleWithEveryColumnAndRawEnumLabels() {
        UUID mail = fixtures.createEmail(tenancy, "welcome-template");
        UUID skipped = fixtures.createEmail(tenancy, null);
        internal.update("""
                UPDATE "EmailOutbox" SET "skippedReason" = 'USER_UNSUBSCRIBED', "skippedDetails" = '{"why": "opted out"}'
                WHERE "id" = ?""", skipped);
        stampAndSync();

        assertThat(email(mail)).isEqualTo(expectedEmail(mail))
                .startsWith(mail + "|PREPARING|IN_PROGRESS|PROGRAMMATIC_CALL|null|welcome-template|null|false|null|null|null|")
                .endsWith("|null|null|null|null|0|false");
        assertThat(email(skipped)).isEqualTo(expectedEmail(skipped))
                .startsWith(skipped + "|SKIPPED|OK|PROGRAMMATIC_CALL|")
                .endsWith("|USER_UNSUBSCRIBED|{\"why\": \"opted out\"}|0|false");

        // Rendered, then sent, delivered and opened: status and the generated sent_at follow.
        internal.update("""
                UPDATE "EmailOutbox" SET "renderedByWorkerId" = gen_random_uuid(), "startedRenderingAt" = now(),
                       "finishedRenderingAt" = now(), "renderedHtml" = '<p>Hi</p>', "renderedSubject" = 'Hi 🚀',
                       "renderedIsTransactional" = true, "renderedNotificationCategoryId" = 'cat-1', "themeId" = 'dark'
                WHERE "id" = ?""", mail);
        stampAndSync();
        assertThat(email(mail)).isEqualTo(expectedEmail(mail))
                .startsWith(mail + "|SCHEDULED|IN_PROGRESS|PROGRAMMATIC_CALL|null|welcome-template|dark|false|true|Hi 🚀|cat-1|");
        internal.update("""
                UPDATE "EmailOutbox" SET "isQueued" = true, "startedSendingAt" = now(), "finishedSendingAt" = now(),
                       "canHaveDeliveryInfo" = true, "deliveredAt" = now(), "openedAt" = now(), "sendRetries" = 2,
                       "unsubscribedAt" = now()
                WHERE "id" = ?""", mail);
        stampAndSync();
        assertThat(email(mail)).isEqualTo(expectedEmail(mail)).startsWith(mail + "|OPENED|OK|");
        assertThat(row(target, "SELECT (sent_at = delivered_at)::text, send_retries::text FROM email_outboxes WHERE id = ?",
                mail)).isEqualTo("true|2");

        internal.update("DELETE FROM \"EmailOutbox\" WHERE \"id\" = ?", mail);
        stampAndSync();
        assertThat(rows(target, "SELECT id::text FROM email_outboxes")).containsExactly(skipped.toString());
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void projectPermissionsPreferencesSessionsAndAccountsReachTheTargetWithEveryColumn() {
        UUID ada = fixtures.createUser(tenancy, "Ada", "ada@example.com");
        fixtures.grantProjectPermission(tenancy, ada, "team_admin");
        UUID category = UUID.fromString("4F6A2C1E-0000-4000-8000-00000000ABCD");
        UUID preference = fixtures.setNotificationPreference(tenancy, ada, category, false);
        UUID session = fixtures.createRefreshToken(tenancy, ada);
        UUID account = fixtures.connectAccount(tenancy, ada, "github", "ada@github.example");
        stampAndSync();

        assertThat(row(target, "SELECT user_id::text, permission_id, created_at::text FROM project_permissions"))
                .isEqualTo(ada + "|team_admin|" + internal.queryValue(
                        "SELECT \"createdAt\"::text FROM \"ProjectUserDirectPermission\" WHERE \"projectUserId\" = ?", ada));
        assertThat(row(target, "SELECT id::text, user_id::text, notification_category_id, enabled::text FROM notification_preferences"))
                .isEqualTo(preference + "|" + ada + "|4f6a2c1e-0000-4000-8000-00000000abcd|false");
        assertThat(row(target, """
                SELECT id::text, user_id::text, created_at::text, last_used_at::text, is_impersonation::text,
                       expires_at::text FROM refresh_tokens""")).isEqualTo(row(internal, """
                SELECT "id"::text, "projectUserId"::text, "createdAt"::text, "lastActiveAt"::text, 'false',
                       "expiresAt"::text FROM "ProjectUserRefreshToken" WHERE "id" = ?""", session))
                .startsWith(session + "|" + ada + "|");
        assertThat(target.queryLong("""
                SELECT count(*) FROM information_schema.columns WHERE table_name = 'refresh_tokens'
                  AND column_name ILIKE '%token%'""")).as("the token itself is never exported").isZero();
        assertThat(row(target, """
                SELECT id::text, user_id::text, provider, provider_account_id, email, created_at::text
                FROM connected_accounts""")).isEqualTo(account + "|" + ada + "|github|acct-" + account
                        + "|ada@github.example|" + internal.queryValue(
                                "SELECT \"createdAt\"::text FROM \"ProjectUserOAuthAccount\" WHERE \"id\" = ?", account));

        // Updates.
        fixtures.setNotificationPreference(tenancy, ada, category, true);
        internal.update("""
                UPDATE "ProjectUserRefreshToken" SET "lastActiveAt" = '2031-05-06 07:08:09.123', "isImpersonation" = true,
                       "expiresAt" = NULL WHERE "id" = ?""", session);
        internal.update("""
                UPDATE "ProjectUserOAuthAccount" SET "email" = NULL, "providerAccountId" = 'renamed' WHERE "id" = ?""",
                account);
        internal.update("""
                UPDATE "ProjectUserDirectPermission" SET "createdAt" = '2020-01-01 00:00:00.5' WHERE "projectUserId" = ?""",
                ada);
        stampAndSync();
        assertThat(row(target, "SELECT enabled::text FROM notification_preferences")).isEqualTo("true");
        assertThat(row(target, "SELECT last_used_at::text, is_impersonation::text, expires_at::text FROM refresh_tokens"))
                .isEqualTo("2031-05-06 07:08:09.123|true|null");
        assertThat(row(target, "SELECT provider_account_id, email FROM connected_accounts")).isEqualTo("renamed|null");
        assertThat(row(target, "SELECT created_at::text FROM project_permissions")).isEqualTo("2020-01-01 00:00:00.5");
        assertMirrors(internal, tenancy.id(), target);

        // Deletes.
        fixtures.revokeProjectPermission(tenancy, ada, "team_admin");
        internal.update("DELETE FROM \"UserNotificationPreference\" WHERE \"id\" = ?", preference);
        fixtures.deleteSessionsOf(tenancy, ada);
        internal.update("DELETE FROM \"ProjectUserOAuthAccount\" WHERE \"id\" = ?", account);
        stampAndSync();
        for (String table : new String[] {"project_permissions", "notification_preferences", "refresh_tokens",
                "connected_accounts"}) {
            assertThat(target.queryLong("SELECT count(*) FROM " + table)).as(table).isZero();
        }
        assertThat(target.queryLong("SELECT count(*) FROM users")).isOne();
    }

    @Test
    void deletingAUserRemovesItsMembershipsPermissionsPreferencesSessionsAndAccounts() {
        UUID ada = fixtures.createUser(tenancy, "Ada", null);
        UUID bob = fixtures.createUser(tenancy, "Bob", null);
        UUID crew = fixtures.createTeam(tenancy, "Crew");
        for (UUID user : new UUID[] {ada, bob}) {
            fixtures.addMember(tenancy, crew, user, null);
            fixtures.grantTeamPermission(tenancy, crew, user, "read");
            fixtures.grantProjectPermission(tenancy, user, "admin");
            fixtures.setNotificationPreference(tenancy, user, UUID.randomUUID(), true);
            fixtures.createRefreshToken(tenancy, user);
            fixtures.connectAccount(tenancy, user, "google", null);
        }
        stampAndSync();
        String[] perUser = {"team_member_profiles", "team_permissions", "project_permissions",
            "notification_preferences", "refresh_tokens", "connected_accounts"};
        for (String table : perUser) {
            assertThat(target.queryLong("SELECT count(*) FROM " + table)).as(table).isEqualTo(2);
        }

        // As Stack Auth deletes a user: its sessions explicitly (no FK), then the user (the FKs cascade the rest).
        fixtures.deleteSessionsOf(tenancy, ada);
        fixtures.deleteUser(tenancy, ada);
        stampAndSync();

        for (String table : perUser) {
            assertThat(rows(target, "SELECT DISTINCT user_id::text FROM " + table)).as(table)
                    .containsExactly(bob.toString());
        }
        assertThat(rows(target, "SELECT id::text FROM users")).containsExactly(bob.toString());
        assertThat(target.queryLong("SELECT count(*) FROM teams")).isOne();
        assertMirrors(internal, tenancy.id(), target);
    }

    @Test
    void anUnlinkedAccountLeavesTheTargetAndComesBackWhenRelinkedWhileOtherCodeTypesNeverAppear() {
        UUID ada = fixtures.createUser(tenancy, "Ada", null);
        UUID account = fixtures.connectAccount(tenancy, ada, "github", "a@example.com");
        UUID neverLinked = UUID.randomUUID();
        internal.update("""
                INSERT INTO "ProjectUserOAuthAccount" ("id", "tenancyId", "projectUserId", "configOAuthProviderId",
                                                       "providerAccountId", "updatedAt")
                VALUES (?, ?, NULL, 'gitlab', 'nobody', now())""", neverLinked, tenancy.id());
        fixtures.createOneTimePassword(tenancy);
        stampAndSync();
        assertThat(rows(target, "SELECT id::text FROM connected_accounts")).containsExactly(account.toString());

        internal.update("UPDATE \"ProjectUserOAuthAccount\" SET \"projectUserId\" = NULL WHERE \"id\" = ?", account);
        stampAndSync();
        assertThat(target.queryLong("SELECT count(*) FROM connected_accounts")).as("unlinked: not stale").isZero();

        internal.update("UPDATE \"ProjectUserOAuthAccount\" SET \"projectUserId\" = ? WHERE \"id\" = ?", ada, account);
        stampAndSync();
        assertThat(rows(target, "SELECT id::text || ' ' || user_id::text FROM connected_accounts"))
                .containsExactly(account + " " + ada);
        assertThat(target.queryLong("SELECT count(*) FROM team_invitations")).as("OTP codes are not invitations").isZero();
        assertThat(internal.queryLong("""
                SELECT count(*) FROM "SyncChange" c JOIN "VerificationCode" v ON v."id"::text = c."primaryKey" ->> 'id'
                WHERE v."type" = 'ONE_TIME_PASSWORD'""")).as("OTP codes write no change-log entry").isZero();
        assertMirrors(internal, tenancy.id(), target);
    }
}
