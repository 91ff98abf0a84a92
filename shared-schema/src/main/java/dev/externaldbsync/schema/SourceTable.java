package dev.externaldbsync.schema;

import dev.externaldbsync.sql.Identifiers;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The catalog of sequenced internal tables: every table whose rows carry {@code "sequenceId"} and
 * {@code "shouldUpdateSequenceId"}, in the order the sequencer stamps them (schema-reference Part D.2,
 * {@code "DeletedRow"} last).
 * <p>
 * Identifiers here are constants of the product, never tenant input, so they may be spliced into SQL text.
 * Immutable; thread-safe.
 */
public enum SourceTable {
    PROJECT_USER("ProjectUser", List.of("tenancyId", "projectUserId")),
    CONTACT_CHANNEL("ContactChannel", List.of("tenancyId", "projectUserId", "id")),
    TEAM("Team", List.of("tenancyId", "teamId")),
    TEAM_MEMBER("TeamMember", List.of("tenancyId", "projectUserId", "teamId")),
    TEAM_MEMBER_DIRECT_PERMISSION("TeamMemberDirectPermission", List.of("id")),
    /**
     * Only team invitations are sequenced; the table has no tenancy column (its tenancy is the {@code "Tenancy"} of
     * its {@code ("projectId", "branchId")}).
     */
    VERIFICATION_CODE("VerificationCode", List.of("projectId", "branchId", "id"), TenancySource.PROJECT_AND_BRANCH,
            "\"type\" = 'TEAM_INVITATION'"),
    EMAIL_OUTBOX("EmailOutbox", List.of("tenancyId", "id")),
    PROJECT_USER_DIRECT_PERMISSION("ProjectUserDirectPermission", List.of("id")),
    USER_NOTIFICATION_PREFERENCE("UserNotificationPreference", List.of("tenancyId", "id")),
    PROJECT_USER_REFRESH_TOKEN("ProjectUserRefreshToken", List.of("tenancyId", "id")),
    PROJECT_USER_OAUTH_ACCOUNT("ProjectUserOAuthAccount", List.of("tenancyId", "id")),
    DELETED_ROW("DeletedRow", List.of("id"));

    /** How a row of a table names its tenancy. */
    public enum TenancySource {
        /** the row's own {@code "tenancyId"} column */
        TENANCY_COLUMN,
        /**
         * the id of the {@code "Tenancy"} row with the same {@code "projectId"} and {@code "branchId"} (the table
         * has no tenancy column)
         */
        PROJECT_AND_BRANCH
    }

    private final String tableName;
    private final List<String> claimKey;
    private final TenancySource tenancySource;
    private final String rowFilter;

    SourceTable(String tableName, List<String> claimKey) {
        this(tableName, claimKey, TenancySource.TENANCY_COLUMN, null);
    }

    SourceTable(String tableName, List<String> claimKey, TenancySource tenancySource, String rowFilter) {
        this.tableName = tableName;
        this.claimKey = List.copyOf(claimKey);
        this.tenancySource = tenancySource;
        this.rowFilter = rowFilter;
    }

    /** The table's name as Stack Auth spells it, e.g. {@code ProjectUser}. */
    public String tableName() {
        return tableName;
    }

    /** The name quoted for SQL, e.g. {@code "ProjectUser"}. */
    public String quotedName() {
        return Identifiers.quote(tableName);
    }

    /** The columns that identify a row for claiming (the primary key, or {@code id} where Part D.2 says so). */
    public List<String> claimKey() {
        return claimKey;
    }

    /** The claim key quoted and comma-separated, e.g. {@code "tenancyId", "projectUserId"}. */
    public String quotedClaimKey() {
        return claimKey.stream().map(Identifiers::quote).collect(Collectors.joining(", "));
    }

    /** How a row names its tenancy. */
    public TenancySource tenancySource() {
        return tenancySource;
    }

    /**
     * The column that names the row's tenancy.
     *
     * @throws IllegalStateException for a table whose tenancy is not a column ({@link TenancySource#PROJECT_AND_BRANCH})
     */
    public String tenancyColumn() {
        if (tenancySource != TenancySource.TENANCY_COLUMN) {
            throw new IllegalStateException(tableName + " has no tenancy column; see tenancySource()");
        }
        return "tenancyId";
    }

    /**
     * The predicate (over the table's unqualified, quoted columns) a row must satisfy to be sequenced, or
     * {@code "TRUE"}: {@code "VerificationCode"} sequences only {@code TEAM_INVITATION} codes. Every statement that
     * reads marks or stamps must add it, so that other code types are never touched (their flag index is partial on
     * the same predicate).
     */
    public String rowFilter() {
        return rowFilter == null ? "TRUE" : rowFilter;
    }

    /** Whether {@link #rowFilter()} restricts the rows (false: every row is sequenced). */
    public boolean hasRowFilter() {
        return rowFilter != null;
    }

}
