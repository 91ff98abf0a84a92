package dev.externaldbsync.e2e;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;

import org.awaitility.Awaitility;

import dev.externaldbsync.testing.TestDatabase;

/**
 * What each target table must contain, computed from the internal database with SQL written independently of the
 * product's mappings (schema-reference Part C), and the comparison of the two, row for row, every column as text.
 */
final class Oracle {

    /** Internal projection of {@code users} for some tenancies; columns in target order, ordered by id. */
    private static final String USERS_EXPECTED = """
            SELECT u."projectUserId"::text,
                   u."displayName",
                   u."profileImageUrl",
                   pe."value",
                   coalesce(pe."isVerified", false)::text,
                   coalesce(u."signedUpAt", u."createdAt")::timestamp::text,
                   coalesce(u."clientMetadata", '{}'::jsonb)::text,
                   coalesce(u."clientReadOnlyMetadata", '{}'::jsonb)::text,
                   coalesce(u."serverMetadata", '{}'::jsonb)::text,
                   u."isAnonymous"::text
            FROM "ProjectUser" u
            LEFT JOIN "ContactChannel" pe ON pe."tenancyId" = u."tenancyId" AND pe."projectUserId" = u."projectUserId"
                 AND pe."type" = 'EMAIL' AND pe."isPrimary" = 'TRUE'
            WHERE u."tenancyId" = ANY(?::uuid[])
            ORDER BY u."projectUserId"
            """;

    private static final String USERS_ACTUAL = """
            SELECT id::text, display_name, profile_image_url, primary_email, primary_email_verified::text,
                   signed_up_at::text, client_metadata::text, client_read_only_metadata::text, server_metadata::text,
                   is_anonymous::text
            FROM users ORDER BY id
            """;

    private static final String CHANNELS_EXPECTED = """
            SELECT c."id"::text, c."projectUserId"::text, c."type"::text, c."value",
                   (c."isPrimary" IS NOT NULL)::text, c."isVerified"::text, (c."usedForAuth" IS NOT NULL)::text,
                   c."createdAt"::timestamp::text
            FROM "ContactChannel" c
            WHERE c."tenancyId" = ANY(?::uuid[])
            ORDER BY c."id"
            """;

    private static final String CHANNELS_ACTUAL = """
            SELECT id::text, user_id::text, type, value, is_primary::text, is_verified::text, used_for_auth::text,
                   created_at::text
            FROM contact_channels ORDER BY id
            """;

    private Oracle() {
    }

    static List<List<Object>> expectedUsers(TestDatabase internal, Collection<UUID> tenancies) {
        return internal.queryRows(USERS_EXPECTED, (Object) ids(tenancies));
    }

    static List<List<Object>> actualUsers(TestDatabase external) {
        return tableExists(external, "users") ? external.queryRows(USERS_ACTUAL) : List.of();
    }

    static List<List<Object>> expectedChannels(TestDatabase internal, Collection<UUID> tenancies) {
        return internal.queryRows(CHANNELS_EXPECTED, (Object) ids(tenancies));
    }

    static List<List<Object>> actualChannels(TestDatabase external) {
        return tableExists(external, "contact_channels") ? external.queryRows(CHANNELS_ACTUAL) : List.of();
    }

    /** Waits until the target holds exactly the projection of these tenancies (every row, every column). */
    static void awaitMirrors(TestDatabase internal, TestDatabase external, Collection<UUID> tenancies, Duration timeout) {
        try {
            Awaitility.await("target " + external.name() + " mirrors " + tenancies.size() + " tenancies")
                    .atMost(timeout).pollInterval(Duration.ofMillis(250))
                    .untilAsserted(() -> assertMirrors(internal, external, tenancies));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            // Awaitility's message drops the assertion's detail: fail with the current difference instead.
            assertMirrors(internal, external, tenancies);
            throw e;
        }
    }

    static void assertMirrors(TestDatabase internal, TestDatabase external, Collection<UUID> tenancies) {
        assertSameRows("users", expectedUsers(internal, tenancies), actualUsers(external));
        assertSameRows("contact_channels", expectedChannels(internal, tenancies), actualChannels(external));
    }

    /** Row-for-row equality in linear time (AssertJ's list diff is quadratic on 100,000 rows), naming the first 5 differences. */
    static void assertSameRows(String table, List<List<Object>> expected, List<List<Object>> actual) {
        if (expected.equals(actual)) {
            return;
        }
        List<String> differences = new ArrayList<>();
        for (int i = 0; i < Math.max(expected.size(), actual.size()) && differences.size() < 5; i++) {
            List<Object> want = i < expected.size() ? expected.get(i) : null;
            List<Object> got = i < actual.size() ? actual.get(i) : null;
            if (!java.util.Objects.equals(want, got)) {
                differences.add("row " + i + ": expected " + want + " but target has " + got);
            }
        }
        throw new AssertionError(table + ": target has " + actual.size() + " rows, projection " + expected.size()
                + "; first differences:\n  " + String.join("\n  ", differences));
    }

    /** The target's cursor of one (tenancy, mapping). */
    static long cursor(TestDatabase target, UUID tenancyId, String mapping) {
        return target.queryLong("""
                SELECT last_synced_sequence_id FROM _stack_sync_metadata WHERE tenancy_id = ? AND mapping_name = ?""",
                tenancyId, mapping);
    }

    static boolean tableExists(TestDatabase db, String table) {
        return db.queryValue("SELECT to_regclass(?)::text", "public." + table) != null;
    }

    private static String[] ids(Collection<UUID> tenancies) {
        List<String> ids = new ArrayList<>();
        tenancies.forEach(t -> ids.add(t.toString()));
        return ids.toArray(String[]::new);
    }
}
