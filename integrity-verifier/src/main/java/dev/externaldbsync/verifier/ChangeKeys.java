package dev.externaldbsync.verifier;

import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.TargetColumn;

/**
 * How a target row's key reads as the {@code "SyncChange"."primaryKey"} its source row's changes are logged under
 * (the shapes of issue 17's change-log contract), so a target-only row can be looked up by exact jsonb equality on
 * {@code "SyncChange_key_idx"} instead of scanning the tenancy's entries. The target has no tenancy column: where a
 * source key includes {@code "tenancyId"} it is the unit's tenancy. {@code contact_channels} is keyed by {@code id}
 * in the target but by (tenancy, owner, id) in the source, so the owner comes from the target row's {@code user_id};
 * a key change logs the old key too, so a target still holding the old owner finds that entry.
 * Immutable, thread-safe.
 */
final class ChangeKeys {

    /** One key of the jsonb: its name and the target column it comes from (null: the unit's tenancy). */
    record Part(String jsonKey, String targetColumn) {
    }

    private static final Part TENANCY = new Part("tenancyId", null);

    private static final Map<String, List<Part>> BY_MAPPING = Map.ofEntries(
            Map.entry("users", List.of(TENANCY, new Part("projectUserId", "id"))),
            Map.entry("contact_channels", List.of(TENANCY, new Part("projectUserId", "user_id"), new Part("id", "id"))),
            Map.entry("teams", List.of(TENANCY, new Part("teamId", "id"))),
            Map.entry("team_member_profiles", List.of(TENANCY, new Part("projectUserId", "user_id"),
                    new Part("teamId", "team_id"))),
            Map.entry("team_permissions", List.of(TENANCY, new Part("projectUserId", "user_id"),
                    new Part("teamId", "team_id"), new Part("permissionId", "permission_id"))),
            Map.entry("team_invitations", List.of(new Part("id", "id"))),
            Map.entry("email_outboxes", List.of(new Part("id", "id"))),
            Map.entry("project_permissions", List.of(TENANCY, new Part("projectUserId", "user_id"),
                    new Part("permissionId", "permission_id"))),
            Map.entry("notification_preferences", List.of(TENANCY, new Part("id", "id"))),
            Map.entry("refresh_tokens", List.of(TENANCY, new Part("id", "id"))),
            Map.entry("connected_accounts", List.of(TENANCY, new Part("id", "id"))));

    private final List<Part> parts;
    private final int[] columnIndexes;
    private final String expression;

    private ChangeKeys(Mapping mapping, List<Part> parts) {
        this.parts = parts;
        List<TargetColumn> columns = mapping.columns();
        List<String> names = columns.stream().map(TargetColumn::name).toList();
        columnIndexes = new int[parts.size()];
        for (int i = 0; i < parts.size(); i++) {
            Part p = parts.get(i);
            columnIndexes[i] = p.targetColumn() == null ? -1 : names.indexOf(p.targetColumn());
            if (p.targetColumn() != null && columnIndexes[i] < 0) {
                throw new IllegalStateException(mapping.name() + " has no target column " + p.targetColumn());
            }
        }
        // Only placeholders and the mapping's own column types reach the SQL; every key name and value is bound.
        expression = "jsonb_build_object(" + parts.stream()
                .map(p -> "?::text, ?::" + (p.targetColumn() == null ? "uuid"
                        : columns.get(names.indexOf(p.targetColumn())).type()))
                .collect(Collectors.joining(", ")) + ")";
    }

    /** The key shape of a mapping; every mapping of {@code Mappings.ALL} has one. */
    static ChangeKeys of(Mapping mapping) {
        List<Part> parts = BY_MAPPING.get(mapping.name());
        if (parts == null) {
            throw new IllegalStateException("no change-log key shape for mapping " + mapping.name());
        }
        return new ChangeKeys(mapping, parts);
    }

    List<Part> parts() {
        return parts;
    }

    /** The SQL expression building the jsonb, with two parameters (name, value) per part. */
    String expression() {
        return expression;
    }

    /** Binds the expression's parameters from {@code index} on; returns the next free index. */
    int bind(PreparedStatement ps, int index, UUID tenancy, String[] targetRow) throws SQLException {
        for (int i = 0; i < parts.size(); i++) {
            ps.setString(index++, parts.get(i).jsonKey());
            ps.setString(index++, columnIndexes[i] < 0 ? tenancy.toString() : targetRow[columnIndexes[i]]);
        }
        return index;
    }
}
