package dev.externaldbsync.schema;

import java.util.List;
import java.util.stream.Collectors;

/**
 * The catalog of sequenced internal tables: every table whose rows carry {@code "sequenceId"} and
 * {@code "shouldUpdateSequenceId"}, in the order the sequencer stamps them ({@code "DeletedRow"} last).
 * <p>
 * Identifiers here are constants of the product, never tenant input, so they may be spliced into SQL text.
 */
public enum SourceTable {
    PROJECT_USER("ProjectUser", List.of("tenancyId", "projectUserId")),
    CONTACT_CHANNEL("ContactChannel", List.of("tenancyId", "projectUserId", "id")),
    DELETED_ROW("DeletedRow", List.of("id"));

    private final String tableName;
    private final List<String> claimKey;

    SourceTable(String tableName, List<String> claimKey) {
        this.tableName = tableName;
        this.claimKey = List.copyOf(claimKey);
    }

    /** The table's name as Stack Auth spells it, e.g. {@code ProjectUser}. */
    public String tableName() {
        return tableName;
    }

    /** The name quoted for SQL, e.g. {@code "ProjectUser"}. */
    public String quotedName() {
        return quote(tableName);
    }

    /** The columns that identify a row for claiming (the primary key). */
    public List<String> claimKey() {
        return claimKey;
    }

    /** The claim key quoted and comma-separated, e.g. {@code "tenancyId", "projectUserId"}. */
    public String quotedClaimKey() {
        return claimKey.stream().map(SourceTable::quote).collect(Collectors.joining(", "));
    }

    /** The column that names the row's tenancy. */
    public String tenancyColumn() {
        return "tenancyId";
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }
}
