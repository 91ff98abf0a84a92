package dev.externaldbsync.schema;

import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.externaldbsync.testing.TestDatabase;

/** Reads "SyncChange" for the capture tests: one tenancy's entries, in the order they were written. */
final class ChangeLog {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One change-log entry; {@code key} is its "primaryKey" object (every value a JSON string). */
    record Entry(String tableName, Map<String, String> key, Long sequenceId) {
    }

    private ChangeLog() {
    }

    static List<Entry> entries(TestDatabase db, UUID tenancy) {
        List<Entry> entries = new ArrayList<>();
        for (List<Object> row : db.queryRows("""
                SELECT "tableName", "primaryKey"::text, "sequenceId" FROM "SyncChange" WHERE "tenancyId" = ? ORDER BY "id"
                """, tenancy)) {
            entries.add(new Entry((String) row.get(0), parse((String) row.get(1)), (Long) row.get(2)));
        }
        return entries;
    }

    /** The entries of one table, as their keys. */
    static List<Map<String, String>> keys(TestDatabase db, UUID tenancy, String tableName) {
        return entries(db, tenancy).stream().filter(e -> e.tableName().equals(tableName)).map(Entry::key).toList();
    }

    /** The entries {@code write} added to the tenancy's log. */
    static List<Entry> written(TestDatabase db, UUID tenancy, Runnable write) {
        int before = entries(db, tenancy).size();
        write.run();
        List<Entry> after = entries(db, tenancy);
        return after.subList(before, after.size());
    }

    /** Every entry of the database: for statements whose tenancy is not the point of the test. */
    static long total(TestDatabase db) {
        return db.queryLong("SELECT count(*) FROM \"SyncChange\"");
    }

    /** A key as the triggers write it, from alternating names and values (values via {@code toString}). */
    static Map<String, String> key(Object... namesAndValues) {
        Map<String, String> key = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            key.put((String) namesAndValues[i], namesAndValues[i + 1].toString());
        }
        return key;
    }

    static Entry entry(String tableName, Object... namesAndValues) {
        return new Entry(tableName, key(namesAndValues), null);
    }

    private static Map<String, String> parse(String json) {
        try {
            return JSON.readValue(json, new TypeReference<LinkedHashMap<String, String>>() {
            });
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
