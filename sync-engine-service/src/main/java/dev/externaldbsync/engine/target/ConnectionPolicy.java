package dev.externaldbsync.engine.target;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.config.TargetConfigParser;
import dev.externaldbsync.engine.EngineConfig;

/**
 * Where the engine may connect, and with which driver settings. Tenants are untrusted, so:
 * <ul>
 * <li>host, port and database come from the URL's authority and path only; the parser already refused every query
 * parameter but {@link TargetConfigParser#ALLOWED_PARAMS}, and the JDBC URL built here carries none at all (pgjdbc
 * lets URL parameters override connection properties);</li>
 * <li>the engine's own properties (timeouts, result buffer, {@code logServerErrorDetail=false}, the socket factory)
 * are set last, and the session limits ({@code statement_timeout}, {@code lock_timeout},
 * {@code idle_in_transaction_session_timeout}) are set by the engine's initial SQL on every new connection;</li>
 * <li>{@code sslmode} is the stricter of the tenant's and the operator's minimum;</li>
 * <li>the address is checked when the socket connects ({@link #checkAddress}, via {@link PolicySocketFactory},
 * which gets these rules through {@link #socketArg}),
 * after DNS resolution, against the operator's allowances; link-local and cloud metadata addresses are always
 * refused, and the internal database never is a target.</li>
 * </ul>
 * Immutable and thread-safe.
 */
public final class ConnectionPolicy implements TargetConfigParser.Rules {

    /** The operator's settings (from {@link EngineConfig}); a record so the policy is testable without Quarkus. */
    public record Settings(boolean allowLoopback, boolean allowPrivate, List<String> allow,
            boolean allowInternalServer, String minSslmode, Optional<String> sslRootCert, int maxPerTenancy,
            String maxResultBuffer, Duration connectTimeout, Duration statementTimeout, Duration lockTimeout,
            Duration idleInTransactionTimeout) {

        public Settings {
            allow = List.copyOf(allow);
        }

        public static Settings of(EngineConfig config) {
            EngineConfig.Targets t = config.targets();
            return new Settings(t.allowLoopback(), t.allowPrivate(), t.allow().orElse(List.of()),
                    t.allowInternalServer(), t.minSslmode(), t.sslRootCert(), t.maxPerTenancy(), t.maxResultBuffer(),
                    config.connectTimeout(), config.statementTimeout(), t.lockTimeout(),
                    t.idleInTransactionTimeout());
        }
    }

    /** What {@link TargetPools} hands Agroal: a URL without parameters, the properties, the session set-up. */
    public record Connection(String jdbcUrl, Properties properties, String initialSql) {
    }

    /** Never a target, whatever the operator allows. */
    private static final List<Cidr> ALWAYS_DENIED = List.of(Cidr.parse("169.254.0.0/16"), Cidr.parse("fe80::/10"),
            Cidr.parse("fd00:ec2::254/128"), Cidr.parse("224.0.0.0/4"), Cidr.parse("255.255.255.255/32"),
            Cidr.parse("ff00::/8"));
    private static final List<Cidr> LOOPBACK = List.of(Cidr.parse("127.0.0.0/8"), Cidr.parse("::1/128"),
            Cidr.parse("0.0.0.0/8"), Cidr.parse("::/128"));
    private static final List<Cidr> PRIVATE = List.of(Cidr.parse("10.0.0.0/8"), Cidr.parse("172.16.0.0/12"),
            Cidr.parse("192.168.0.0/16"), Cidr.parse("100.64.0.0/10"), Cidr.parse("fc00::/7"),
            Cidr.parse("fec0::/10"));

    private final Settings settings;
    private final List<Cidr> allowedRanges = new ArrayList<>();
    private final Set<String> allowedHosts;
    private final PostgresUrl internal;
    private final List<InetAddress> internalAddresses;
    private final boolean internalIsLocal;
    private final int minSslRank;

    /**
     * @param internal the internal database (never a target); null only where there is none (unit tests)
     * @throws IllegalArgumentException for an unusable setting, naming it
     */
    public ConnectionPolicy(Settings settings, PostgresUrl internal) {
        this(settings, internal, List.of());
    }

    /**
     * @param knownInternal addresses the internal database's host resolved to before (the engine's own policy, via
     *                      {@link #socketArg}): counted as its server with whatever a lookup finds now, so a lookup
     *                      that fails at connect time cannot make the internal server look like any other host
     */
    private ConnectionPolicy(Settings settings, PostgresUrl internal, List<InetAddress> knownInternal) {
        this.settings = settings;
        this.minSslRank = TargetConfigParser.SSL_MODES.indexOf(settings.minSslmode());
        if (minSslRank < 0) {
            throw new IllegalArgumentException("engine.targets.min-sslmode must be one of "
                    + String.join(", ", TargetConfigParser.SSL_MODES) + ", got '" + settings.minSslmode() + "'");
        }
        if (settings.maxPerTenancy() < 1) {
            throw new IllegalArgumentException("engine.targets.max-per-tenancy must be at least 1");
        }
        List<String> hosts = new ArrayList<>();
        for (String entry : settings.allow()) {
            String value = entry.strip();
            if (value.isEmpty()) {
                continue;
            }
            if (value.contains("/")) {
                try {
                    allowedRanges.add(Cidr.parse(value));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("engine.targets.allow: " + e.getMessage(), e);
                }
            } else {
                hosts.add(value.toLowerCase(Locale.ROOT));
            }
        }
        this.allowedHosts = Set.copyOf(hosts);
        this.internal = internal;
        List<InetAddress> internalNow = new ArrayList<>(knownInternal);
        if (internal != null) {
            resolveQuietly(internal.host()).stream().filter(a -> !internalNow.contains(a)).forEach(internalNow::add);
        }
        this.internalAddresses = List.copyOf(internalNow);
        this.internalIsLocal = internalAddresses.stream().anyMatch(ConnectionPolicy::isLocal);
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public int maxTargetsPerTenancy() {
        return settings.maxPerTenancy();
    }

    /**
     * The checks that need no DNS, so that a target that can never be used is a config error before anything
     * connects: the internal database's own URL, and an address literal the policy refuses.
     */
    @Override
    public String refusal(TargetConfig target) {
        PostgresUrl url = target.url();
        if (internal != null && url.port() == internal.port() && url.database().equals(internal.database())
                && url.host().equalsIgnoreCase(internal.host())) {
            return internalDatabaseRefusal();
        }
        String host = bare(url.host());
        if (Cidr.isAddressLiteral(host)) {
            try {
                checkAddress(url.host(), InetAddress.getByName(host), url.port(), url.database());
            } catch (TargetRefusedException e) {
                return e.getMessage();
            } catch (UnknownHostException e) {
                return "host " + url.host() + " is not a valid address";
            }
        }
        return null;
    }

    /** The connection to open for {@code url}; {@link #refusal} has passed. */
    public Connection connection(PostgresUrl url) {
        Properties p = new Properties();
        String tenantSsl = url.params().get("sslmode");
        int tenantRank = tenantSsl == null ? -1 : TargetConfigParser.SSL_MODES.indexOf(tenantSsl);
        String sslmode = TargetConfigParser.SSL_MODES.get(Math.max(tenantRank, minSslRank));
        // pgjdbc's own default (prefer) is what "no sslmode" means; name it only when it is stricter than that.
        if (tenantSsl != null || minSslRank > TargetConfigParser.SSL_MODES.indexOf("prefer")) {
            p.setProperty("sslmode", sslmode);
        }
        if (settings.sslRootCert().isPresent() && sslmode.startsWith("verify")) {
            p.setProperty("sslrootcert", settings.sslRootCert().get());
        }
        p.setProperty("ApplicationName", url.params().getOrDefault("application_name", "external-db-sync engine"));
        String schema = url.params().get("currentSchema");
        if (schema != null) {
            p.setProperty("currentSchema", schema);
        }
        long connectSeconds = Math.max(1, settings.connectTimeout().toSeconds());
        // Engine properties last: nothing above comes from anything but the allowlist.
        p.setProperty("connectTimeout", Long.toString(connectSeconds));
        p.setProperty("loginTimeout", Long.toString(connectSeconds));
        // The server cancels a statement at statement_timeout; the socket timeout, a little later, is the bound
        // for a server that no longer answers at all.
        p.setProperty("socketTimeout", Long.toString(Math.max(1, settings.statementTimeout().toSeconds())
                + connectSeconds));
        p.setProperty("tcpKeepAlive", "true");
        p.setProperty("logServerErrorDetail", "false");
        p.setProperty("maxResultBuffer", settings.maxResultBuffer());
        p.setProperty("socketFactory", PolicySocketFactory.class.getName());
        p.setProperty("socketFactoryArg", socketArg(url.database()));
        String jdbcUrl = "jdbc:postgresql://" + url.host() + ":" + url.port() + "/"
                + java.net.URLEncoder.encode(url.database(), java.nio.charset.StandardCharsets.UTF_8)
                        .replace("+", "%20");
        String initialSql = "SET statement_timeout = " + settings.statementTimeout().toMillis()
                + "; SET lock_timeout = " + settings.lockTimeout().toMillis()
                + "; SET idle_in_transaction_session_timeout = " + settings.idleInTransactionTimeout().toMillis();
        return new Connection(jdbcUrl, p, initialSql);
    }

    /**
     * Whether the engine may connect to {@code address} (what {@code hostName} resolved to) on {@code port} for
     * {@code database}.
     *
     * @throws TargetRefusedException naming the address and the setting that would allow it, if any
     */
    public void checkAddress(String hostName, InetAddress address, int port, String database)
            throws TargetRefusedException {
        InetAddress mapped = mappedIpv4(address);
        if (mapped != null) {
            // The same host in IPv4's notation, which the rules name. The JDK turns a mapped literal into its IPv4
            // address, but a name's AAAA answer arrives as it is.
            checkAddress(hostName, mapped, port, database);
            return;
        }
        String shown = shown(hostName, address);
        if (in(ALWAYS_DENIED, address)) {
            throw new TargetRefusedException(shown + " is a link-local, cloud metadata or multicast address: "
                    + "never a target");
        }
        if (isInternalServer(address, port)) {
            if (internal.database().equals(database)) {
                throw new TargetRefusedException(internalDatabaseRefusal());
            }
            if (!settings.allowInternalServer()) {
                throw new TargetRefusedException(shown + " port " + port + " is the internal database's server: not "
                        + "a target (engine.targets.allow-internal-server is for development only)");
            }
        }
        if (!allowedHosts.isEmpty() || !allowedRanges.isEmpty()) {
            if (hostName != null && allowedHosts.contains(hostName.toLowerCase(Locale.ROOT))
                    || in(allowedRanges, address)) {
                return;
            }
            String kind = in(LOOPBACK, address) ? "a loopback address, " : in(PRIVATE, address) ? "a private address, " : "";
            throw new TargetRefusedException(shown + " is " + kind + "not in engine.targets.allow");
        }
        if (in(LOOPBACK, address) && !settings.allowLoopback()) {
            throw new TargetRefusedException(shown + " is a loopback address (engine.targets.allow-loopback=false)");
        }
        if (in(PRIVATE, address) && !settings.allowPrivate()) {
            throw new TargetRefusedException(shown + " is a private address (engine.targets.allow-private=false)");
        }
    }

    /**
     * This policy's address rules and the target's database as one string, pgjdbc's {@code socketFactoryArg}: the
     * socket factory is instantiated by pgjdbc by class name, possibly in another class loader than this engine's
     * beans (Quarkus test and dev mode), so it carries its rules with it rather than reading shared state.
     */
    String socketArg(String database) {
        java.util.Map<String, String> values = new java.util.LinkedHashMap<>();
        values.put("loopback", Boolean.toString(settings.allowLoopback()));
        values.put("private", Boolean.toString(settings.allowPrivate()));
        values.put("internalServer", Boolean.toString(settings.allowInternalServer()));
        values.put("allow", String.join(",", settings.allow()));
        if (internal != null) {
            values.put("internalHost", internal.host());
            values.put("internalPort", Integer.toString(internal.port()));
            values.put("internalDatabase", internal.database());
            values.put("internalAddresses", internalAddresses.stream().map(InetAddress::getHostAddress)
                    .collect(Collectors.joining(",")));
        }
        values.put("database", database);
        return values.entrySet().stream().map(e -> e.getKey() + "=" + enc(e.getValue()))
                .collect(Collectors.joining("&"));
    }

    /** The policy and target database a {@link #socketArg} names. */
    static java.util.Map.Entry<ConnectionPolicy, String> fromSocketArg(String arg) {
        java.util.Map<String, String> values = new java.util.HashMap<>();
        for (String pair : arg == null ? new String[0] : arg.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                values.put(pair.substring(0, eq), java.net.URLDecoder.decode(pair.substring(eq + 1),
                        java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        String allow = values.getOrDefault("allow", "");
        Settings settings = new Settings(Boolean.parseBoolean(values.get("loopback")),
                Boolean.parseBoolean(values.get("private")), allow.isEmpty() ? List.of() : List.of(allow.split(",")),
                Boolean.parseBoolean(values.get("internalServer")), "disable", Optional.empty(), 1, "0",
                Duration.ZERO, Duration.ZERO, Duration.ZERO, Duration.ZERO);
        PostgresUrl internal = values.containsKey("internalHost") ? new PostgresUrl(values.get("internalHost"),
                Integer.parseInt(values.get("internalPort")), values.get("internalDatabase"), null, null,
                java.util.Map.of()) : null;
        List<InetAddress> known = new ArrayList<>();
        for (String literal : values.getOrDefault("internalAddresses", "").split(",")) {
            if (!literal.isEmpty() && Cidr.isAddressLiteral(literal)) {
                try {
                    known.add(InetAddress.getByName(literal)); // a literal: no lookup
                } catch (UnknownHostException e) {
                    throw new IllegalArgumentException("not an address: " + literal, e);
                }
            }
        }
        return java.util.Map.entry(new ConnectionPolicy(settings, internal, known),
                values.getOrDefault("database", ""));
    }

    private static String enc(String value) {
        return java.net.URLEncoder.encode(value, java.nio.charset.StandardCharsets.UTF_8);
    }

    private boolean isInternalServer(InetAddress address, int port) {
        if (internal == null || port != internal.port()) {
            return false;
        }
        // An internal database on this machine is reachable through any of its addresses, not just the one in
        // INTERNAL_DATABASE_URL.
        return internalAddresses.contains(address) || internalIsLocal && isLocal(address);
    }

    private String internalDatabaseRefusal() {
        return "this is the engine's internal database: never a target";
    }

    private static boolean isLocal(InetAddress address) {
        if (address.isLoopbackAddress() || address.isAnyLocalAddress()) {
            return true;
        }
        try {
            return NetworkInterface.getByInetAddress(address) != null;
        } catch (SocketException e) {
            return false;
        }
    }

    /**
     * The IPv4 address of an IPv4-mapped address ({@code ::ffff:0:0/96}), which a dual-stack socket connects to over
     * IPv4; null for any other address.
     */
    private static InetAddress mappedIpv4(InetAddress address) {
        byte[] a = address.getAddress();
        if (a.length != 16 || !IntStream.range(0, 10).allMatch(i -> a[i] == 0) || a[10] != (byte) 0xff
                || a[11] != (byte) 0xff) {
            return null;
        }
        try {
            return InetAddress.getByAddress(Arrays.copyOfRange(a, 12, 16));
        } catch (UnknownHostException e) {
            throw new IllegalStateException("four bytes are an IPv4 address", e);
        }
    }

    private static boolean in(List<Cidr> ranges, InetAddress address) {
        return ranges.stream().anyMatch(r -> r.contains(address));
    }

    private static String shown(String hostName, InetAddress address) {
        String literal = address.getHostAddress();
        return hostName == null || bare(hostName).equalsIgnoreCase(literal) ? literal
                : hostName + " (resolved to " + literal + ")";
    }

    private static String bare(String host) {
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    private static List<InetAddress> resolveQuietly(String host) {
        try {
            return List.of(InetAddress.getAllByName(bare(host)));
        } catch (UnknownHostException e) {
            return List.of();
        }
    }

    @Override
    public String toString() {
        return "ConnectionPolicy[loopback=" + settings.allowLoopback() + ", private=" + settings.allowPrivate()
                + ", allow=" + allowedHosts + allowedRanges.stream().map(Cidr::toString).collect(Collectors.toList())
                + ", internalServer=" + settings.allowInternalServer() + ", minSslmode=" + settings.minSslmode() + "]";
    }

}
