package dev.externaldbsync.verifier;

import dev.externaldbsync.sql.Identifiers;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.TargetColumn;

/**
 * The two streams one unit merges, for one mapping: the internal projection and the target table, both as the
 * PostgreSQL text form of every target column (each value first cast to the target column's type, so both sides
 * render through the same type's output function), both ordered by the target key in one order that Java can
 * reproduce ({@link #compareKeys}).
 * <p>
 * Key order: uuid and integer key columns sort natively on both sides (uuid order is byte order, which is the
 * order of their lower-case hex text; integers compare numerically), so the projection's own {@code ORDER BY}
 * (an index order) is kept and PostgreSQL adds no sort. Any other key type (text) sorts by
 * {@code ::text COLLATE "C"} on both sides (byte order of UTF-8 = code point order), because the two databases may
 * have different default collations. Immutable, thread-safe.
 */
final class UnitQueries {

    private static final Set<String> NATIVE_ORDER_TYPES = Set.of("uuid", "bigint", "integer", "int", "int4", "int8",
            "smallint", "int2");

    private final Mapping mapping;
    private final int[] keyIndexes;
    private final boolean[] numericKey;
    private final String boundColumn;

    /**
     * @param boundColumn the column bounded by {@code --max-users-per-project} ({@code <= ?}), or null for none
     */
    UnitQueries(Mapping mapping, String boundColumn) {
        this.mapping = mapping;
        this.keyIndexes = mapping.keyIndexes();
        this.numericKey = new boolean[keyIndexes.length];
        for (int i = 0; i < keyIndexes.length; i++) {
            String type = mapping.columns().get(keyIndexes[i]).type();
            numericKey[i] = NATIVE_ORDER_TYPES.contains(type) && !"uuid".equals(type);
        }
        this.boundColumn = boundColumn;
    }

    Mapping mapping() {
        return mapping;
    }

    int[] keyIndexes() {
        return keyIndexes;
    }

    String boundColumn() {
        return boundColumn;
    }

    /** The bound column's type, for the {@code ?::type} parameter. */
    String boundType() {
        return mapping.columns().stream().filter(c -> c.name().equals(boundColumn)).findFirst().orElseThrow().type();
    }

    /**
     * The projection: columns as text in {@link Mapping#columns()} order, then {@code sequence_id}, {@code pending}.
     * Parameters: tenancy uuid, then the bound when {@link #boundColumn()} is set.
     */
    String internalSql() {
        return "SELECT " + textColumns("p.") + ", p.\"sequence_id\", p.\"pending\"\nFROM (\n" + mapping.projectionSql()
                + "\n) AS p" + where("p.") + "\nORDER BY " + orderBy("p.");
    }

    /** The target table in the same order and shape (without the two trailing columns). Parameter: the bound. */
    String targetSql() {
        return "SELECT " + textColumns("t.") + "\nFROM " + mapping.quotedTable() + " AS t" + where("t.") + "\nORDER BY "
                + orderBy("t.");
    }

    /**
     * The target rows of a batch of keys, in key order: one array parameter per key column (text forms), used when
     * the target is shared with other tenancies and only this tenancy's keys may be read.
     */
    String targetProbeSql() {
        List<TargetColumn> columns = mapping.columns();
        StringBuilder keys = new StringBuilder();
        StringBuilder arrays = new StringBuilder();
        for (int i = 0; i < keyIndexes.length; i++) {
            TargetColumn key = columns.get(keyIndexes[i]);
            keys.append(i > 0 ? ", " : "").append("t.").append(key.quoted());
            arrays.append(i > 0 ? ", " : "").append("?::").append(key.type()).append("[]");
        }
        return "SELECT " + textColumns("t.") + "\nFROM " + mapping.quotedTable() + " AS t\nWHERE (" + keys
                + ") IN (SELECT * FROM unnest(" + arrays + "))\nORDER BY " + orderBy("t.");
    }

    private String where(String alias) {
        if (boundColumn == null) {
            return "";
        }
        return "\nWHERE " + alias + Identifiers.quote(boundColumn) + " <= ?::" + boundType();
    }

    private String textColumns(String alias) {
        return mapping.columns().stream()
                .map(c -> "(" + alias + c.quoted() + ")::" + c.type() + "::text")
                .collect(Collectors.joining(", "));
    }

    private String orderBy(String alias) {
        List<TargetColumn> columns = mapping.columns();
        StringBuilder order = new StringBuilder();
        for (int i = 0; i < keyIndexes.length; i++) {
            TargetColumn key = columns.get(keyIndexes[i]);
            if (i > 0) {
                order.append(", ");
            }
            if (NATIVE_ORDER_TYPES.contains(key.type())) {
                order.append(alias).append(key.quoted());
            } else {
                order.append("(").append(alias).append(key.quoted()).append(")::text COLLATE \"C\"");
            }
        }
        return order.toString();
    }

    /** Compares the keys of two rows (text forms) in exactly the order both queries sort by. */
    int compareKeys(String[] a, String[] b) {
        for (int i = 0; i < keyIndexes.length; i++) {
            String x = a[keyIndexes[i]];
            String y = b[keyIndexes[i]];
            int c = numericKey[i] ? Long.compare(Long.parseLong(x), Long.parseLong(y)) : compareCodePoints(x, y);
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    /** Code point order = UTF-8 byte order = {@code COLLATE "C"}; also the order of lower-case uuid text. */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) {
                return Integer.compare(x, y);
            }
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

}
