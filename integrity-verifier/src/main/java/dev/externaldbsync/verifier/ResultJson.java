package dev.externaldbsync.verifier;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * JSON Lines form of {@link UnitResult}: one object per line, written with the streaming generator (no reflection, so
 * it works unchanged in a native image). Thread-safe.
 */
final class ResultJson {

    private static final JsonFactory FACTORY = new JsonFactory();
    private static final ObjectMapper MAPPER = new ObjectMapper(FACTORY);

    private ResultJson() {
    }

    /** One line, without the newline. */
    static String toLine(UnitResult r) {
        StringWriter out = new StringWriter(256);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("tenancy", r.tenancy());
            g.writeStringField("target", r.target());
            g.writeStringField("mapping", r.mapping());
            if (r.error() != null) {
                g.writeStringField("error", r.error());
            } else {
                g.writeNumberField("cursor", r.cursor());
                g.writeNumberField("internalRows", r.internalRows());
                g.writeNumberField("targetRows", r.targetRows());
                g.writeNumberField("equal", r.equal());
                g.writeNumberField("missing", r.missing());
                g.writeNumberField("extra", r.extra());
                g.writeNumberField("different", r.different());
                g.writeNumberField("pending", r.pending());
                g.writeStringField("internalDigest", r.internalDigest());
                g.writeStringField("targetDigest", r.targetDigest());
            }
            g.writeArrayFieldStart("findings");
            for (Finding f : r.findings()) {
                g.writeStartObject();
                g.writeStringField("kind", f.kind());
                g.writeBooleanField("pending", f.pending());
                writeMap(g, "key", f.key());
                if (!f.columns().isEmpty()) {
                    g.writeArrayFieldStart("columns");
                    for (String c : f.columns()) {
                        g.writeString(c);
                    }
                    g.writeEndArray();
                    writeMap(g, "internal", f.internal());
                    writeMap(g, "target", f.target());
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private static void writeMap(JsonGenerator g, String name, Map<String, String> map) throws IOException {
        g.writeObjectFieldStart(name);
        for (Map.Entry<String, String> e : map.entrySet()) {
            g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
    }

    /** Parses one saved line. */
    static UnitResult fromLine(String line) {
        JsonNode n;
        try {
            n = MAPPER.readTree(line);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a result record: " + Finding.truncate(line), e);
        }
        List<Finding> findings = new ArrayList<>();
        for (JsonNode f : n.path("findings")) {
            List<String> columns = new ArrayList<>();
            f.path("columns").forEach(c -> columns.add(c.asText()));
            findings.add(new Finding(f.path("kind").asText(), f.path("pending").asBoolean(), map(f.path("key")),
                    columns, map(f.path("internal")), map(f.path("target"))));
        }
        return new UnitResult(text(n, "tenancy"), text(n, "target"), text(n, "mapping"), n.path("cursor").asLong(-1),
                n.path("internalRows").asLong(), n.path("targetRows").asLong(), n.path("equal").asLong(),
                n.path("missing").asLong(), n.path("extra").asLong(), n.path("different").asLong(),
                n.path("pending").asLong(), text(n, "internalDigest"), text(n, "targetDigest"), findings,
                text(n, "error"));
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static Map<String, String> map(JsonNode n) {
        Map<String, String> map = new LinkedHashMap<>();
        n.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText()));
        return map;
    }
}
