package dev.externaldbsync.engine.target;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.config.PostgresUrl;
import dev.externaldbsync.config.TargetConfig;
import dev.externaldbsync.testing.TestDatabase;
import dev.externaldbsync.testing.TestPostgres;

/** The connection policy on its own: addresses, the internal database, TLS minimum, and the driver settings. */
class ConnectionPolicyTest {

    private static final PostgresUrl INTERNAL = PostgresUrl.parse("postgresql://sync:pw@127.0.0.1:5432/stack");

    static ConnectionPolicy.Settings settings(boolean loopback, boolean privateRanges, List<String> allow,
            boolean internalServer, String minSslmode) {
        return new ConnectionPolicy.Settings(loopback, privateRanges, allow, internalServer, minSslmode,
                Optional.empty(), 10, "32M", Duration.ofSeconds(5), Duration.ofSeconds(120), Duration.ofSeconds(30),
                Duration.ofMinutes(5));
    }

    static ConnectionPolicy strict() {
        return new ConnectionPolicy(settings(false, false, List.of(), false, "require"), INTERNAL);
    }

    private static String refusal(ConnectionPolicy policy, String url) {
        return policy.refusal(new TargetConfig("main", "postgres", PostgresUrl.parse(url)));
    }

    private static InetAddress ip(String literal) throws Exception {
        return InetAddress.getByName(literal);
    }

    @Test
    void linkLocalAndCloudMetadataAddressesAreRefusedWhateverTheOperatorAllows() throws Exception {
        ConnectionPolicy lax = new ConnectionPolicy(settings(true, true, List.of("0.0.0.0/0", "::/0"), true,
                "disable"), INTERNAL);

        for (String address : List.of("169.254.169.254", "169.254.1.1", "fe80::1", "fd00:ec2::254")) {
            assertThatThrownBy(() -> lax.checkAddress(address, ip(address), 5432, "db"))
                    .as(address).isInstanceOf(TargetRefusedException.class).hasMessageContaining("never a target");
        }
        assertThat(refusal(lax, "postgresql://u:p@169.254.169.254/db")).contains("never a target");
    }

    @Test
    void anIpv4AddressThatANamesIpv6AnswerCarriesIsHeldToThatIpv4AddressesRules() throws Exception {
        ConnectionPolicy strict = strict();
        assertThatThrownBy(() -> strict.checkAddress("evil.example", mapped("169.254.169.254"), 5432, "db"))
                .isInstanceOf(TargetRefusedException.class)
                .hasMessageContaining("resolved to 169.254.169.254").hasMessageContaining("never a target");
        assertThatThrownBy(() -> strict.checkAddress("evil.example", mapped("127.0.0.1"), 6000, "db"))
                .isInstanceOf(TargetRefusedException.class).hasMessageContaining("loopback");
        assertThatThrownBy(() -> strict.checkAddress("evil.example", mapped("10.1.2.3"), 5432, "db"))
                .isInstanceOf(TargetRefusedException.class).hasMessageContaining("private");
        ConnectionPolicy dev = new ConnectionPolicy(settings(true, true, List.of(), true, "disable"), INTERNAL);
        assertThatThrownBy(() -> dev.checkAddress("evil.example", mapped("127.0.0.1"), 5432, "stack"))
                .isInstanceOf(TargetRefusedException.class).hasMessageContaining("internal database");

        strict.checkAddress("db.example.com", mapped("203.0.113.7"), 5432, "db");
        strict.checkAddress("db.example.com", ip("2001:db8::a9fe:a9fe"), 5432, "db");
    }

    /** {@code ::ffff:<ipv4>} as a resolver hands over a name's AAAA answer: sixteen bytes, not turned into IPv4. */
    private static InetAddress mapped(String ipv4) throws Exception {
        return aaaa(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff}, ipv4);
    }

    private static InetAddress aaaa(byte[] prefix, String ipv4) throws Exception {
        byte[] bytes = java.util.Arrays.copyOf(prefix, 16);
        System.arraycopy(ip(ipv4).getAddress(), 0, bytes, 12, 4);
        InetAddress address = Inet6Address.getByAddress("evil.example", bytes, -1);
        assertThat(address).isInstanceOf(Inet6Address.class);
        return address;
    }

    @Test
    void loopbackAndPrivateRangesAreRefusedUnlessAllowed() throws Exception {
        ConnectionPolicy strict = strict();
        for (String address : List.of("127.0.0.1", "::1", "0.0.0.0")) {
            assertThatThrownBy(() -> strict.checkAddress(address, ip(address), 6000, "db")).as(address)
                    .hasMessageContaining("engine.targets.allow-loopback=false");
        }
        for (String address : List.of("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
                "fd12::1")) {
            assertThatThrownBy(() -> strict.checkAddress(address, ip(address), 6000, "db")).as(address)
                    .hasMessageContaining("engine.targets.allow-private=false");
        }
        strict.checkAddress("db.example.com", ip("203.0.113.7"), 5432, "db");
        strict.checkAddress("172.32.0.1", ip("172.32.0.1"), 5432, "db");

        ConnectionPolicy allowing = new ConnectionPolicy(settings(true, true, List.of(), false, "require"), INTERNAL);
        allowing.checkAddress("localhost", ip("127.0.0.1"), 6000, "db");
        allowing.checkAddress("10.1.2.3", ip("10.1.2.3"), 5432, "db");
    }

    @Test
    void anAllowlistAdmitsOnlyItsRangesAndHostNamesAndLiftsTheRangeBans() throws Exception {
        ConnectionPolicy locked = new ConnectionPolicy(settings(false, false, List.of("10.1.0.0/16",
                "Pg.Example.com"), false, "require"), INTERNAL);

        locked.checkAddress("10.1.2.3", ip("10.1.2.3"), 5432, "db");
        locked.checkAddress("pg.example.COM", ip("192.168.7.7"), 5432, "db");
        assertThatThrownBy(() -> locked.checkAddress("10.2.0.1", ip("10.2.0.1"), 5432, "db"))
                .hasMessageContaining("not in engine.targets.allow");
        assertThatThrownBy(() -> locked.checkAddress("db.example.com", ip("203.0.113.7"), 5432, "db"))
                .hasMessageContaining("db.example.com (resolved to 203.0.113.7) is not in engine.targets.allow");
        assertThatThrownBy(() -> new ConnectionPolicy(settings(false, false, List.of("10.0.0.0/33"), false,
                "require"), INTERNAL)).hasMessageContaining("engine.targets.allow");
    }

    @Test
    void theInternalDatabaseIsNeverATargetAndItsServerOnlyWithTheDevelopmentAllowance() throws Exception {
        ConnectionPolicy dev = new ConnectionPolicy(settings(true, true, List.of(), true, "disable"), INTERNAL);

        assertThat(refusal(dev, "postgresql://x:y@127.0.0.1:5432/stack")).contains("internal database");
        assertThatThrownBy(() -> dev.checkAddress("localhost", ip("127.0.0.1"), 5432, "stack"))
                .hasMessageContaining("internal database: never a target");
        dev.checkAddress("localhost", ip("127.0.0.1"), 5432, "tenant_db");

        ConnectionPolicy loopbackOnly = new ConnectionPolicy(settings(true, false, List.of(), false, "disable"),
                INTERNAL);
        assertThatThrownBy(() -> loopbackOnly.checkAddress("localhost", ip("127.0.0.1"), 5432, "tenant_db"))
                .hasMessageContaining("engine.targets.allow-internal-server");
        loopbackOnly.checkAddress("localhost", ip("127.0.0.1"), 5433, "tenant_db");
    }

    @Test
    void atConnectTimeTheInternalServerIsKnownByTheAddressesTheEngineResolvedThoughItsNameNoLongerResolves()
            throws Exception {
        ConnectionPolicy engines = new ConnectionPolicy(settings(true, false, List.of(), false, "disable"),
                PostgresUrl.parse("postgresql://sync:pw@127.0.0.1:5432/stack"));
        String arg = engines.socketArg("tenant_db");
        assertThat(arg).contains("internalAddresses=127.0.0.1");
        // What a socket's policy sees when the internal database's name fails to resolve as the target connects.
        String unresolvable = arg.replace("internalHost=127.0.0.1", "internalHost=internal-db.invalid");
        assertThat(unresolvable).isNotEqualTo(arg);

        ConnectionPolicy atConnect = ConnectionPolicy.fromSocketArg(unresolvable).getKey();
        assertThatThrownBy(() -> atConnect.checkAddress("db.tenant.example", ip("127.0.0.1"), 5432, "tenant_db"))
                .isInstanceOf(TargetRefusedException.class)
                .hasMessageContaining("engine.targets.allow-internal-server");
        atConnect.checkAddress("db.tenant.example", ip("127.0.0.1"), 5433, "tenant_db");
    }

    @Test
    void theJdbcUrlCarriesNoParametersAndTheEngineSettingsCannotBeOverridden() {
        ConnectionPolicy policy = strict();
        PostgresUrl url = new PostgresUrl("db.example.com", 6543, "tenant db", "u", "p",
                java.util.Map.of("sslmode", "disable", "application_name", "mine", "socketTimeout", "0",
                        "host", "localhost"));

        ConnectionPolicy.Connection connection = policy.connection(url);

        assertThat(connection.jdbcUrl()).isEqualTo("jdbc:postgresql://db.example.com:6543/tenant%20db");
        Properties p = connection.properties();
        assertThat(p.getProperty("sslmode")).as("a tenant cannot loosen the minimum").isEqualTo("require");
        assertThat(p.getProperty("socketTimeout")).isEqualTo("125");
        assertThat(p.getProperty("logServerErrorDetail")).isEqualTo("false");
        assertThat(p.getProperty("maxResultBuffer")).isEqualTo("32M");
        assertThat(p.getProperty("socketFactory")).isEqualTo(PolicySocketFactory.class.getName());
        assertThat(p.getProperty("ApplicationName")).isEqualTo("mine");
        assertThat(p).doesNotContainKey("host");
        assertThat(connection.initialSql()).contains("SET statement_timeout = 120000", "SET lock_timeout = 30000",
                "SET idle_in_transaction_session_timeout = 300000");

        PostgresUrl stricter = new PostgresUrl("h", 5432, "d", null, null, java.util.Map.of("sslmode",
                "verify-full"));
        assertThat(policy.connection(stricter).properties().getProperty("sslmode")).isEqualTo("verify-full");
        assertThatThrownBy(() -> new ConnectionPolicy(settings(false, false, List.of(), false, "sometimes"),
                INTERNAL)).hasMessageContaining("engine.targets.min-sslmode");
    }

    @Test
    void aHostNameResolvingToADeniedAddressIsRefusedAtConnectAndNothingIsReached() throws Exception {
        Properties info = new Properties();
        info.setProperty("socketFactoryArg", strict().socketArg("db"));
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(200);
            Socket socket = new PolicySocketFactory(info).createSocket();

            assertThatThrownBy(() -> socket.connect(new InetSocketAddress("localhost", server.getLocalPort()), 1000))
                    .isInstanceOf(TargetRefusedException.class)
                    .hasMessageContaining("localhost (resolved to 127.0.0.1) is a loopback address");
            assertThat(socket.isConnected()).isFalse();
            assertThatThrownBy(server::accept).as("nothing connected").isInstanceOf(
                    java.net.SocketTimeoutException.class);
        }
    }

    @Test
    void pgjdbcConnectsThroughThePolicyAndReportsARefusal() throws Exception {
        TestDatabase db = TestPostgres.createDatabase("policy");
        PostgresUrl url = PostgresUrl.parse(db.postgresUrl());
        ConnectionPolicy allowing = new ConnectionPolicy(settings(true, false, List.of(), true, "disable"), INTERNAL);
        ConnectionPolicy.Connection connection = allowing.connection(url);
        Properties props = new Properties();
        props.putAll(connection.properties());
        props.setProperty("user", url.user());
        props.setProperty("password", url.password());

        try (Connection c = DriverManager.getConnection(connection.jdbcUrl(), props);
                Statement s = c.createStatement()) {
            s.execute(connection.initialSql());
            try (ResultSet rs = s.executeQuery("SHOW statement_timeout")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("2min");
            }
        }

        props.setProperty("socketFactoryArg", strict().socketArg(url.database()));
        assertThatThrownBy(() -> DriverManager.getConnection(connection.jdbcUrl(), props))
                .isInstanceOf(java.sql.SQLException.class)
                .satisfies(e -> assertThat(TargetPools.refusedOr((java.sql.SQLException) e).getMessage())
                        .contains("refused by the engine's connection policy", "loopback"));
    }
}
