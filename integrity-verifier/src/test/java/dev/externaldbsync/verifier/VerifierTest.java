package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.mapping.Mappings;
import dev.externaldbsync.testing.StackAuthFixtures.Tenancy;

/** The command end to end against real databases: exit codes, findings, selection, pending rule, save/verify. */
class VerifierTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAPPINGS = Mappings.ALL.size();

    @TempDir
    Path dir;

    private static JsonNode json(String line) {
        try {
            return JSON.readTree(line);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + line, e);
        }
    }

    private static Tenancy populated(World w, int users) {
        Tenancy t = w.tenancy();
        for (int i = 0; i < users; i++) {
            w.fx.createUser(t, "user " + i, "user" + i + "-" + t.id() + "@example.com");
        }
        return t;
    }

    @Test
    void equalDataExitsZeroAndChecksEveryUnit() {
        World w = new World();
        Tenancy a = populated(w, 3);
        Tenancy b = populated(w, 2);
        w.sync(a);
        w.sync(b);

        World.Run run = w.run();

        assertThat(run.exit()).as(run.out() + run.err()).isZero();
        assertThat(run.failures()).isEmpty();
        JsonNode summary = json(run.summary()).get("summary");
        assertThat(summary.get("tenancies").asLong()).isEqualTo(2);
        assertThat(summary.get("units").asLong()).isEqualTo(2L * MAPPINGS);
        assertThat(summary.get("pendingRows").asLong()).isZero();
        assertThat(summary.get("completed").asBoolean()).isTrue();
    }

    @Test
    void reportsExactlyTheChangedMissingAndExtraRowsWithNoBailAndStopsAtTheFirstWithout() {
        World w = new World();
        Tenancy changed = populated(w, 3);
        Tenancy missing = populated(w, 3);
        Tenancy extra = populated(w, 3);
        Tenancy clean = populated(w, 3);
        for (Tenancy t : List.of(changed, missing, extra, clean)) {
            w.sync(t);
        }
        UUID changedUser = firstUser(w, changed);
        UUID missingUser = firstUser(w, missing);
        UUID extraUser = UUID.randomUUID();
        w.onTarget(changed, "UPDATE users SET display_name = 'tampered' WHERE id = '" + changedUser + "'");
        w.onTarget(missing, "DELETE FROM users WHERE id = '" + missingUser + "'");
        w.onTarget(extra, "INSERT INTO users (id, signed_up_at) VALUES ('" + extraUser + "', now())");

        World.Run all = w.run("--no-bail");

        assertThat(all.exit()).isEqualTo(1);
        List<JsonNode> records = all.failures().stream().map(VerifierTest::json).toList();
        assertThat(records).hasSize(3);
        JsonNode d = record(records, changed);
        assertThat(d.get("mapping").asText()).isEqualTo("users");
        assertThat(d.get("different").asLong()).isEqualTo(1);
        assertThat(d.get("missing").asLong() + d.get("extra").asLong()).isZero();
        assertThat(d.at("/findings/0/kind").asText()).isEqualTo("different");
        assertThat(d.at("/findings/0/key/id").asText()).isEqualTo(changedUser.toString());
        assertThat(d.at("/findings/0/columns").toString()).isEqualTo("[\"display_name\"]");
        assertThat(d.at("/findings/0/target/display_name").asText()).isEqualTo("tampered");
        JsonNode m = record(records, missing);
        assertThat(m.get("missing").asLong()).isEqualTo(1);
        assertThat(m.get("different").asLong() + m.get("extra").asLong()).isZero();
        assertThat(m.at("/findings/0/key/id").asText()).isEqualTo(missingUser.toString());
        JsonNode x = record(records, extra);
        assertThat(x.get("extra").asLong()).isEqualTo(1);
        assertThat(x.get("missing").asLong() + x.get("different").asLong()).isZero();
        assertThat(x.at("/findings/0/kind").asText()).isEqualTo("extra");
        assertThat(x.at("/findings/0/key/id").asText()).isEqualTo(extraUser.toString());
        assertThat(json(all.summary()).at("/summary/tenancies").asLong()).isEqualTo(4);

        World.Run bail = w.run();

        assertThat(bail.exit()).isEqualTo(1);
        assertThat(bail.failures()).hasSize(1);
        JsonNode summary = json(bail.summary()).get("summary");
        assertThat(summary.get("completed").asBoolean()).isFalse();
        assertThat(summary.get("failedUnits").asLong()).isEqualTo(1);
    }

    @Test
    void saveThenVerifyUnchangedIsZeroAndAChangedTenancyIsNamed() throws Exception {
        World w = new World();
        Tenancy a = populated(w, 2);
        Tenancy b = populated(w, 2);
        w.sync(a);
        w.sync(b);
        Path saved = dir.resolve("run.jsonl");

        World.Run save = w.run("--save-output=" + saved);

        assertThat(save.exit()).as(save.out()).isZero();
        assertThat(saved).exists();
        assertThat(dir.resolve("run.jsonl.tmp")).doesNotExist();
        assertThat(Files.readAllLines(saved)).hasSize(2 * MAPPINGS);
        assertThat(w.run("--verify-output=" + saved).exit()).isZero();

        w.fx.renameUser(b, firstUser(w, b), "renamed everywhere");
        w.sync(b);
        World.Run verify = w.run("--verify-output=" + saved, "--no-bail");

        assertThat(verify.exit()).isEqualTo(1);
        assertThat(verify.failures()).hasSize(1);
        JsonNode diff = json(verify.failures().get(0));
        assertThat(diff.get("verifyOutput").asText()).isEqualTo("changed");
        assertThat(diff.get("unit").asText()).isEqualTo(b.id() + "/main/users");
        assertThat(diff.get("detail").asText()).contains("internalDigest").contains("targetDigest");

        World.Run both = w.run("--save-output=" + dir.resolve("x"), "--verify-output=" + saved);
        assertThat(both.exit()).isEqualTo(2);
        assertThat(both.err()).contains("cannot be used together");
    }

    @Test
    void aFailedSaveRunLeavesOnlyTheTmpFile() {
        World w = new World();
        Tenancy a = populated(w, 1);
        w.sync(a);
        w.onTarget(a, "DELETE FROM users");
        Path saved = dir.resolve("bail.jsonl");

        World.Run run = w.run("--save-output=" + saved);

        assertThat(run.exit()).isEqualTo(1);
        assertThat(saved).doesNotExist();
        assertThat(dir.resolve("bail.jsonl.tmp")).exists();
    }

    @Test
    void startCountAndRecentFirstSelectExactlyThoseTenancies() throws Exception {
        World w = new World();
        Tenancy t1 = populated(w, 1);
        Tenancy t2 = populated(w, 1);
        Tenancy t3 = populated(w, 1);
        Tenancy t4 = populated(w, 1);
        for (Tenancy t : List.of(t1, t2, t3, t4)) {
            w.sync(t);
        }
        // t2 changes last: its change-log entry carries the greatest sequence id. t5 has no entry at all.
        w.fx.renameUser(t2, firstUser(w, t2), "latest");
        w.sync(t2);
        Tenancy t5 = w.tenancy();
        List<String> byId = Stream.of(t1, t2, t3, t4, t5).map(t -> t.id().toString()).sorted().toList();

        Path middle = dir.resolve("middle.jsonl");
        assertThat(w.run("2", "2", "--save-output=" + middle).exit()).isZero();
        assertThat(tenanciesIn(middle)).containsExactly(byId.get(1), byId.get(2));

        Path recent = dir.resolve("recent.jsonl");
        assertThat(w.run("--recent-first", "1", "1", "--save-output=" + recent).exit()).isZero();
        assertThat(tenanciesIn(recent)).containsExactly(t2.id().toString());
        Path allRecent = dir.resolve("all-recent.jsonl");
        assertThat(w.run("--recent-first", "--save-output=" + allRecent).exit()).isZero();
        assertThat(tenanciesIn(allRecent)).containsExactly(Stream.of(t2, t4, t3, t1, t5).map(t -> t.id().toString())
                .toArray(String[]::new));

        Path one = dir.resolve("one.jsonl");
        assertThat(w.run("--tenancy=" + t3.id(), "--mapping=users", "--save-output=" + one).exit()).isZero();
        assertThat(Files.readAllLines(one)).hasSize(1).allSatisfy(l -> assertThat(l).contains(t3.id() + "\""));
    }

    @Test
    void maxUsersPerProjectComparesOnlyTheFirstUsersByKeyAndTheirChannels() throws Exception {
        World w = new World();
        Tenancy t = populated(w, 5);
        w.sync(t);
        @SuppressWarnings("unchecked")
        List<String> ids = w.internal.queryRows(
                "SELECT \"projectUserId\"::text FROM \"ProjectUser\" WHERE \"tenancyId\" = ? ORDER BY 1", t.id())
                .stream().map(r -> (String) r.get(0)).toList();
        // The last two users by id are broken in the target; the first three are intact.
        w.onTarget(t, "DELETE FROM users WHERE id IN ('" + ids.get(3) + "', '" + ids.get(4) + "')",
                "DELETE FROM contact_channels WHERE user_id = '" + ids.get(4) + "'");
        Path out = dir.resolve("bounded.jsonl");

        World.Run bounded = w.run("--max-users-per-project=3", "--save-output=" + out);

        assertThat(bounded.exit()).as(bounded.out()).isZero();
        List<JsonNode> records = Files.readAllLines(out).stream().map(VerifierTest::json).toList();
        JsonNode users = records.stream().filter(r -> r.get("mapping").asText().equals("users")).findFirst().orElseThrow();
        assertThat(users.get("internalRows").asLong()).isEqualTo(3);
        assertThat(users.get("targetRows").asLong()).isEqualTo(3);
        JsonNode channels = records.stream().filter(r -> r.get("mapping").asText().equals("contact_channels"))
                .findFirst().orElseThrow();
        assertThat(channels.get("internalRows").asLong()).isEqualTo(3);

        World.Run full = w.run("--no-bail");
        assertThat(full.exit()).isEqualTo(1);
        assertThat(full.failures()).hasSize(2);

        World.Run skip = w.run("--skip-users");
        assertThat(skip.exit()).isZero();
        assertThat(json(skip.summary()).at("/summary/units").asLong()).isEqualTo(
                Mappings.ALL.stream().filter(m -> !m.name().equals("users") && !Verifier.hasUserColumn(m)).count());
    }

    @Test
    void rowsChangedAfterTheCursorArePendingNotMismatches() throws Exception {
        World w = new World();
        Tenancy t = populated(w, 3);
        w.sync(t);
        long cursor = w.lastStamp();
        UUID renamed = firstUser(w, t);
        w.fx.renameUser(t, renamed, "renamed, not stamped yet");
        w.fx.createUser(t, "new user", "new-" + t.id() + "@example.com");
        UUID deleted = lastUser(w, t, renamed);
        w.fx.deleteUser(t, deleted);

        World.Run unstamped = w.run("--no-bail", "--mapping=users");
        assertThat(unstamped.exit()).as(unstamped.out()).isZero();
        assertThat(json(unstamped.summary()).at("/summary/pendingRows").asLong()).isEqualTo(3);

        w.stamp();
        Path out = dir.resolve("pending.jsonl");
        World.Run stamped = w.run("--no-bail", "--mapping=users", "--save-output=" + out);
        assertThat(stamped.exit()).as(stamped.out()).isZero();
        JsonNode users = json(Files.readAllLines(out).get(0));
        assertThat(users.get("pending").asLong()).isEqualTo(3);
        assertThat(users.get("different").asLong() + users.get("missing").asLong() + users.get("extra").asLong())
                .isZero();
        assertThat(users.get("findings").findValuesAsText("kind")).containsExactlyInAnyOrder("different", "missing",
                "extra");
        assertThat(users.get("findings").findValues("pending")).allSatisfy(p -> assertThat(p.asBoolean()).isTrue());

        // Once the cursor claims those changes were applied, the same rows are mismatches.
        w.setCursor(t, "users", w.lastStamp());
        World.Run after = w.run("--no-bail", "--mapping=users");
        assertThat(after.exit()).isEqualTo(1);
        JsonNode r = json(after.failures().get(0));
        assertThat(r.get("different").asLong()).isEqualTo(1);
        assertThat(r.get("missing").asLong()).isEqualTo(1);
        assertThat(r.get("extra").asLong()).isEqualTo(1);
        assertThat(cursor).isLessThan(w.lastStamp());
    }

    @Test
    void aTargetRowWhoseSourceRowIsGoneIsPendingUntilTheCursorPassesItsDeleteForEveryKeyShape() throws Exception {
        World w = new World();
        Tenancy t = w.tenancy();
        UUID u1 = w.fx.createUser(t, "kept", "kept-" + t.id() + "@example.com");
        UUID u2 = w.fx.createUser(t, "leaves the team", "leaver-" + t.id() + "@example.com");
        UUID u3 = w.fx.createUser(t, "deleted", "deleted-" + t.id() + "@example.com");
        UUID secondEmail = w.fx.addEmail(t, u1, "second-" + t.id() + "@example.com", false);
        UUID team = w.fx.createTeam(t, "kept team");
        UUID deletedTeam = w.fx.createTeam(t, "deleted team");
        w.fx.addMember(t, team, u1, "member one");
        w.fx.addMember(t, team, u2, "member two");
        w.fx.grantTeamPermission(t, team, u1, "p1");
        w.fx.grantTeamPermission(t, team, u1, "p2");
        w.fx.grantProjectPermission(t, u1, "a");
        w.fx.grantProjectPermission(t, u1, "b");
        w.fx.inviteToTeam(t, team, "kept-invite@example.com");
        UUID deletedInvitation = w.fx.inviteToTeam(t, team, "deleted-invite@example.com");
        w.fx.inviteToTeam(t, deletedTeam, "invite-to-deleted-team@example.com");
        w.fx.createEmail(t, "kept-template");
        UUID deletedEmail = w.fx.createEmail(t, "deleted-template");
        w.fx.setNotificationPreference(t, u1, UUID.randomUUID(), true);
        UUID deletedPreference = w.fx.setNotificationPreference(t, u1, UUID.randomUUID(), false);
        w.fx.createRefreshToken(t, u1);
        w.fx.createRefreshToken(t, u2);
        w.fx.connectAccount(t, u1, "github", "kept@example.com");
        UUID deletedAccount = w.fx.connectAccount(t, u1, "google", "deleted@example.com");
        w.sync(t);
        assertThat(w.run("--no-bail").exit()).isZero();

        w.fx.deleteUser(t, u3);
        w.internal.update("DELETE FROM \"ContactChannel\" WHERE \"tenancyId\" = ? AND \"id\" = ?", t.id(), secondEmail);
        w.fx.deleteTeam(t, deletedTeam);
        w.fx.removeMember(t, team, u2);
        w.fx.revokeTeamPermission(t, team, u1, "p2");
        w.fx.revokeProjectPermission(t, u1, "b");
        w.fx.deleteVerificationCode(t, deletedInvitation);
        w.internal.update("DELETE FROM \"EmailOutbox\" WHERE \"tenancyId\" = ? AND \"id\" = ?", t.id(), deletedEmail);
        w.internal.update("DELETE FROM \"UserNotificationPreference\" WHERE \"tenancyId\" = ? AND \"id\" = ?", t.id(),
                deletedPreference);
        w.fx.deleteSessionsOf(t, u2);
        w.internal.update("DELETE FROM \"ProjectUserOAuthAccount\" WHERE \"tenancyId\" = ? AND \"id\" = ?", t.id(),
                deletedAccount);
        // Target-only rows that differ from a deleted key in one natural-key column only: no entry explains them.
        w.onTarget(t, "INSERT INTO team_permissions (team_id, user_id, permission_id, created_at) VALUES ('" + team
                + "', '" + u1 + "', 'p3', now())",
                "INSERT INTO project_permissions (user_id, permission_id, created_at) VALUES ('" + u1 + "', 'c', now())");
        java.util.Map<String, Long> deleted = java.util.Map.ofEntries(java.util.Map.entry("users", 1L),
                java.util.Map.entry("contact_channels", 2L), java.util.Map.entry("teams", 1L),
                java.util.Map.entry("team_member_profiles", 1L), java.util.Map.entry("team_permissions", 1L),
                java.util.Map.entry("team_invitations", 2L), java.util.Map.entry("email_outboxes", 1L),
                java.util.Map.entry("project_permissions", 1L), java.util.Map.entry("notification_preferences", 1L),
                java.util.Map.entry("refresh_tokens", 1L), java.util.Map.entry("connected_accounts", 1L));
        assertThat(deleted.keySet()).as("every mapping has a deleted row")
                .containsExactlyInAnyOrderElementsOf(Mappings.ALL.stream().map(m -> m.name()).toList());
        java.util.Map<String, Long> bogus = java.util.Map.of("team_permissions", 1L, "project_permissions", 1L);

        for (boolean stamped : List.of(false, true)) {
            if (stamped) {
                w.stamp();
            }
            Path out = dir.resolve("deletes-" + stamped + ".jsonl");
            World.Run run = w.run("--no-bail", "--save-output=" + out);
            assertThat(run.exit()).as(run.out()).isEqualTo(1);
            for (JsonNode unit : Files.readAllLines(out).stream().map(VerifierTest::json).toList()) {
                String mapping = unit.get("mapping").asText();
                assertThat(unit.get("pending").asLong()).as(mapping + " stamped=" + stamped)
                        .isEqualTo(deleted.get(mapping));
                assertThat(unit.get("extra").asLong()).as(mapping + " stamped=" + stamped)
                        .isEqualTo(bogus.getOrDefault(mapping, 0L));
                assertThat(unit.get("missing").asLong() + unit.get("different").asLong()).as(mapping).isZero();
            }
        }

        for (var m : Mappings.ALL) {
            w.setCursor(t, m.name(), w.lastStamp());
        }
        Path out = dir.resolve("deletes-applied.jsonl");
        assertThat(w.run("--no-bail", "--save-output=" + out).exit()).isEqualTo(1);
        for (JsonNode unit : Files.readAllLines(out).stream().map(VerifierTest::json).toList()) {
            String mapping = unit.get("mapping").asText();
            assertThat(unit.get("extra").asLong()).as(mapping)
                    .isEqualTo(deleted.get(mapping) + bogus.getOrDefault(mapping, 0L));
            assertThat(unit.get("pending").asLong()).as(mapping).isZero();
        }
    }

    @Test
    void anUnappliedEntryOfAnotherTenancyNeverExplainsATargetRowEvenForKeysWithoutTheTenancy() {
        World w = new World();
        Tenancy a = w.tenancy();
        Tenancy b = w.tenancy();
        UUID synced = w.fx.createEmail(a, "synced");
        w.sync(a);
        w.sync(b);
        // An unapplied entry of a's own, so the per-key lookup runs rather than the unit-wide check answering "none".
        w.fx.createEmail(a, "not stamped yet");
        UUID stray = UUID.randomUUID();
        w.onTarget(a, "INSERT INTO email_outboxes SELECT (jsonb_populate_record(NULL::email_outboxes, to_jsonb(e) "
                + "|| jsonb_build_object('id', '" + stray + "'))).* FROM email_outboxes e WHERE id = '" + synced + "'");
        w.internal.update("""
                INSERT INTO "SyncChange" ("tenancyId", "tableName", "primaryKey")
                VALUES (?, 'EmailOutbox', jsonb_build_object('id', ?::uuid))""", b.id(), stray);

        World.Run run = w.run("--tenancy=" + a.id(), "--mapping=email_outboxes");

        assertThat(run.exit()).as(run.out()).isEqualTo(1);
        JsonNode r = json(run.failures().get(0));
        assertThat(r.get("extra").asLong()).isEqualTo(1);
        assertThat(r.get("findings").findValues("kind").stream().map(JsonNode::asText).toList())
                .containsExactlyInAnyOrder("extra", "missing");
        for (JsonNode f : r.get("findings")) {
            if (f.get("kind").asText().equals("extra")) {
                assertThat(f.at("/key/id").asText()).isEqualTo(stray.toString());
                assertThat(f.get("pending").asBoolean()).isFalse();
            }
        }
        assertThat(r.get("pending").asLong()).as("a's unstamped new email").isEqualTo(1);
    }

    @Test
    void targetErrorsAreReportedPerTargetWithoutPasswordsAndTheRunGoesOn() {
        World w = new World();
        Tenancy good = populated(w, 1);
        w.sync(good);
        Tenancy bad = w.fx.createTenancy();
        w.fx.setConfig(bad, """
                {"dbSync": {"externalDatabases": {
                  "weird": {"type": "mysql", "connectionString": "mysql://u:hunter2secret@h/db"},
                  "down": {"type": "postgres", "connectionString": "postgresql://u:hunter2secret@127.0.0.1:1/db"}}}}""");

        World.Run run = w.run("--no-bail");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.out() + run.err()).doesNotContain("hunter2secret");
        assertThat(run.failures()).hasSize(2);
        assertThat(run.out()).contains("\"target\":\"weird\"").contains("unknown type")
                .contains("\"target\":\"down\"").contains("cannot connect");
        assertThat(json(run.summary()).at("/summary/completed").asBoolean()).isTrue();
    }

    @Test
    void textKeysMergeInTheSameOrderOnBothSides() {
        World w = new World();
        Tenancy t = populated(w, 2);
        UUID user = firstUser(w, t);
        for (String permission : List.of("b", "B", "a", "ä", "Z", "a b", "a-b", "10", "9", "𝔸", "\uFFFD")) {
            w.fx.grantProjectPermission(t, user, permission);
        }
        w.sync(t);

        World.Run equal = w.run("--mapping=project_permissions");
        assertThat(equal.exit()).as(equal.out() + equal.err()).isZero();
        assertThat(json(equal.summary()).at("/summary/rowsCompared").asLong()).isEqualTo(11);

        w.onTarget(t, "DELETE FROM project_permissions WHERE permission_id = 'ä'");
        World.Run run = w.run("--mapping=project_permissions");
        assertThat(run.exit()).isEqualTo(1);
        JsonNode r = json(run.failures().get(0));
        assertThat(r.get("missing").asLong()).isEqualTo(1);
        assertThat(r.at("/findings/0/key/permission_id").asText()).isEqualTo("ä");
        assertThat(r.get("equal").asLong()).isEqualTo(10);
    }

    @Test
    void aTargetSharedByTwoTenanciesChecksEachOnlyOnItsOwnRows() {
        World w = new World();
        Tenancy a = populated(w, 3);
        Tenancy b = w.tenancySharingTargetWith(a);
        w.fx.createUser(b, "b user", "b-" + b.id() + "@example.com");
        w.sync(a);
        w.sync(b);

        World.Run equal = w.run();
        assertThat(equal.exit()).as(equal.out()).isZero();
        assertThat(json(equal.summary()).at("/summary/rowsCompared").asLong()).isEqualTo(2 * (3 + 1));

        UUID gone = firstUser(w, a);
        w.onTarget(a, "DELETE FROM contact_channels WHERE user_id = '" + gone + "'");
        World.Run run = w.run("--no-bail");
        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.failures()).hasSize(1);
        JsonNode r = json(run.failures().get(0));
        assertThat(r.get("tenancy").asText()).isEqualTo(a.id().toString());
        assertThat(r.get("mapping").asText()).isEqualTo("contact_channels");
        assertThat(r.get("missing").asLong()).isEqualTo(1);
    }

    @Test
    void usageAndInternalConnectionErrorsExitTwo() {
        World.Run noDb = World.runRaw("--internal-url=postgresql://u:hunter2secret@127.0.0.1:1/db");
        assertThat(noDb.exit()).isEqualTo(2);
        assertThat(noDb.err()).contains("cannot connect to the internal database").doesNotContain("hunter2secret");
        assertThat(World.runRaw("--internal-url=postgresql://h/db", "--mapping=nope").exit()).isEqualTo(2);
        assertThat(World.runRaw("--internal-url=postgresql://h/db", "0").exit()).isEqualTo(2);
        assertThat(World.runRaw("--bogus").exit()).isEqualTo(2);
        World w = new World();
        World.Run unknown = w.run("--tenancy=" + UUID.randomUUID());
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.err()).contains("no tenancy with id");
    }

    @Test
    void neverWritesAnything() {
        World w = new World();
        Tenancy t = populated(w, 2);
        w.sync(t);
        w.fx.renameUser(t, firstUser(w, t), "pending");
        long queued = w.internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\"");
        // Row versions, not pg_stat counters: those are flushed asynchronously and lag the test's own writes.
        String rowVersions = rowVersions(w);

        assertThat(w.run("--no-bail").exit()).isZero();

        assertThat(w.internal.queryLong("SELECT count(*) FROM \"OutgoingRequest\"")).isEqualTo(queued);
        assertThat(w.internal.queryLong("""
                SELECT count(*) FROM "SyncChange" WHERE "tenancyId" = ? AND "tableName" = 'ProjectUser'
                  AND "sequenceId" IS NULL""", t.id())).as("the rename's entry is still unstamped").isEqualTo(1);
        assertThat(rowVersions(w)).as("every row version of the internal tables").isEqualTo(rowVersions);
    }

    /** Changes whenever any row of these tables is inserted, updated or deleted (ctid and xmin move). */
    private static String rowVersions(World w) {
        StringBuilder versions = new StringBuilder();
        for (String table : List.of("ProjectUser", "ContactChannel", "SyncChange", "OutgoingRequest")) {
            versions.append(table).append('=').append(w.internal.queryValue(
                    "SELECT md5(coalesce(string_agg(ctid::text || ':' || xmin::text, ',' ORDER BY ctid), '')) FROM \""
                            + table + "\"")).append(' ');
        }
        return versions.toString();
    }

    @Test
    void everyConnectionIsARepeatableReadReadOnlySnapshot() throws Exception {
        World w = new World();
        try (java.sql.Connection c = TargetConnections.connect(
                dev.externaldbsync.config.PostgresUrl.parse(w.internal.postgresUrl()), "test")) {
            assertThat(c.getAutoCommit()).isFalse();
            assertThat(c.isReadOnly()).isTrue();
            try (java.sql.Statement s = c.createStatement()) {
                java.sql.ResultSet rs = s.executeQuery(
                        "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')");
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("repeatable read");
                assertThat(rs.getString(2)).isEqualTo("on");
                c.rollback();
                org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> s.execute("INSERT INTO \"ExternalDbSyncMetadata\" (\"updatedAt\") VALUES (now())"))
                        .hasMessageContaining("read-only transaction");
            }
        }
    }

    private static JsonNode record(List<JsonNode> records, Tenancy t) {
        return records.stream().filter(r -> r.get("tenancy").asText().equals(t.id().toString())).findFirst()
                .orElseThrow(() -> new AssertionError("no record for " + t.id() + " in " + records));
    }

    private static List<String> tenanciesIn(Path file) throws Exception {
        return Files.readAllLines(file).stream().map(l -> json(l).get("tenancy").asText()).distinct().toList();
    }

    private static UUID firstUser(World w, Tenancy t) {
        return (UUID) w.internal.queryValue(
                "SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ? ORDER BY 1 LIMIT 1", t.id());
    }

    private static UUID lastUser(World w, Tenancy t, UUID except) {
        return (UUID) w.internal.queryValue("SELECT \"projectUserId\" FROM \"ProjectUser\" WHERE \"tenancyId\" = ? "
                + "AND \"projectUserId\" <> ? AND \"displayName\" LIKE 'user %' ORDER BY 1 DESC LIMIT 1", t.id(), except);
    }
}
