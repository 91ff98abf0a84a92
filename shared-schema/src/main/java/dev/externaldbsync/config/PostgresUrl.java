package dev.externaldbsync.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import dev.externaldbsync.contract.status.ErrorText;

/**
 * A PostgreSQL connection string of the operator interface: {@code postgresql://user:password@host:port/db?params}
 * ({@code postgres://} and {@code jdbc:postgresql://host/db?user=…&password=…} are accepted too).
 * <p>
 * {@link #toString()} and {@link #redacted()} never show the password; only {@link #password()} and
 * {@link #reactiveUri()} carry it. Immutable and thread-safe.
 *
 * @param host     host name or address ({@code [::1]} style for IPv6)
 * @param port     TCP port, 5432 when not given
 * @param database database name
 * @param user     user name, may be null
 * @param password password, may be null
 * @param params   remaining query parameters (sslmode, …), passed on to the drivers
 */
public record PostgresUrl(String host, int port, String database, String user, String password,
        Map<String, String> params) {

    // Greedy up to the last '@' of the token: a password may itself contain '@' (unencoded, as people write it).
    private static final Pattern CREDENTIALS = Pattern.compile("(://[^:/@?#\\s]*:)\\S*@");
    private static final Pattern SECRET_PARAM = Pattern.compile(
            "(?i)((?:^|[?&;\\s])[^=&?;\\s]*(?:pass|secret|token|key)[^=&?;\\s]*=)[^&;\\s]*");
    // In a string that is one connection string, a value runs to the next parameter, spaces included.
    private static final Pattern WHOLE_SECRET_PARAM = Pattern.compile(
            "(?i)((?:^|[?&;])[^=&?;]*(?:pass|secret|token|key)[^=&?;]*=)[^&;]*");

    /** The most of a connection string an error message shows. */
    private static final int SHOWN_MAX_CHARS = 512;

    public PostgresUrl {
        params = Map.copyOf(params);
    }

    /**
     * Parses a connection string.
     *
     * @throws IllegalArgumentException with a message that names the problem and shows the string redacted
     */
    public static PostgresUrl parse(String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("connection string is empty");
        }
        String text = value.strip();
        String withoutJdbc = text.startsWith("jdbc:") ? text.substring("jdbc:".length()) : text;
        URI uri;
        try {
            uri = new URI(withoutJdbc);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("connection string is not a valid URL (" + e.getReason() + "): "
                    + shown(text));
        }
        String scheme = uri.getScheme();
        if (!"postgresql".equals(scheme) && !"postgres".equals(scheme)) {
            throw new IllegalArgumentException(
                    "connection string must start with postgresql:// or postgres://: " + shown(text));
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new IllegalArgumentException("connection string has no host: " + shown(text));
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        String database = decode(path.startsWith("/") ? path.substring(1) : path);
        if (database.isEmpty() || database.contains("/")) {
            throw new IllegalArgumentException("connection string has no database name: " + shown(text));
        }
        String user = null;
        String password = null;
        if (uri.getRawUserInfo() != null) {
            String userInfo = uri.getRawUserInfo();
            int colon = userInfo.indexOf(':');
            user = decode(colon < 0 ? userInfo : userInfo.substring(0, colon));
            password = colon < 0 ? null : decode(userInfo.substring(colon + 1));
        }
        Map<String, String> params = new LinkedHashMap<>();
        if (uri.getRawQuery() != null) {
            for (String pair : uri.getRawQuery().split("&")) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String key = decode(eq < 0 ? pair : pair.substring(0, eq));
                String val = eq < 0 ? "" : decode(pair.substring(eq + 1));
                switch (key) {
                    case "user" -> user = val;
                    case "password" -> password = val;
                    default -> params.put(key, val);
                }
            }
        }
        return new PostgresUrl(host, uri.getPort() < 0 ? 5432 : uri.getPort(), database, user, password, params);
    }

    /** The JDBC URL, without credentials (pass {@link #user()} and {@link #password()} separately). */
    public String jdbcUrl() {
        return "jdbc:postgresql://" + host + ":" + port + "/" + encode(database) + query(params);
    }

    /** The URI form Vert.x' reactive client takes; it contains the password. */
    public String reactiveUri() {
        String credentials = "";
        if (user != null) {
            credentials = encode(user) + (password != null ? ":" + encode(password) : "") + "@";
        }
        return "postgresql://" + credentials + host + ":" + port + "/" + encode(database) + query(params);
    }

    /**
     * The connection string with the password and every secret-like parameter value ({@link #isSecretName}) replaced
     * by {@code ***}: safe for logs, status pages and errors.
     */
    public String redacted() {
        String credentials = user == null ? "" : encode(user) + (password != null ? ":***" : "") + "@";
        Map<String, String> shown = new LinkedHashMap<>();
        params.forEach((k, v) -> shown.put(k, isSecretName(k) ? "***" : v));
        return "postgresql://" + credentials + host + ":" + port + "/" + encode(database) + query(shown);
    }

    /** Whether a parameter's value is to be treated as a secret: its name mentions a password, secret, token or key. */
    public static boolean isSecretName(String name) {
        String lower = name.toLowerCase(java.util.Locale.ROOT);
        return lower.contains("pass") || lower.contains("secret") || lower.contains("token") || lower.contains("key");
    }

    /** The same server and credentials, another database. */
    public PostgresUrl withDatabase(String otherDatabase) {
        return new PostgresUrl(host, port, otherDatabase, user, password, params);
    }

    @Override
    public String toString() {
        return redacted();
    }

    /**
     * How an error message shows the connection string it is about: redacted as one string, and bounded, as a tenant
     * chooses its length. {@link #redact} reads free text, where a space ends a token; a string that did not parse may
     * hold a password with spaces, so here everything between the user's name and the string's last {@code '@'} is
     * the password, and a secret parameter's value runs to the next parameter.
     */
    private static String shown(String text) {
        String hidden = text;
        int authority = hidden.indexOf("://");
        int at = hidden.lastIndexOf('@');
        if (authority >= 0 && at > authority) {
            int colon = hidden.indexOf(':', authority + 3);
            if (colon >= 0 && colon < at) {
                hidden = hidden.substring(0, colon + 1) + "***" + hidden.substring(at);
            }
        }
        // The patterns backtrack, so they read only what can be shown, and a little more.
        String head = hidden.length() > 4 * SHOWN_MAX_CHARS ? hidden.substring(0, 4 * SHOWN_MAX_CHARS) : hidden;
        return ErrorText.bounded(redact(WHOLE_SECRET_PARAM.matcher(head).replaceAll("$1***")), SHOWN_MAX_CHARS);
    }

    /** Best-effort redaction of a string that may not even parse (for error messages about it). */
    public static String redact(String connectionString) {
        if (connectionString == null) {
            return "null";
        }
        String redacted = CREDENTIALS.matcher(connectionString).replaceAll("$1***@");
        return SECRET_PARAM.matcher(redacted).replaceAll("$1***");
    }

    private static String query(Map<String, String> params) {
        if (params.isEmpty()) {
            return "";
        }
        return params.entrySet().stream()
                .map(e -> encode(e.getKey()) + "=" + encode(e.getValue()))
                .collect(Collectors.joining("&", "?", ""));
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
