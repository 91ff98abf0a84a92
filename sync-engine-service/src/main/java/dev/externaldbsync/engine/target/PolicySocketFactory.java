package dev.externaldbsync.engine.target;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.util.Properties;

import javax.net.SocketFactory;

import io.quarkus.runtime.annotations.RegisterForReflection;

/**
 * The socket factory of every target connection (pgjdbc's {@code socketFactory}, instantiated by class name with
 * the connection's properties): its sockets check the address they are about to connect to against the
 * {@link ConnectionPolicy}, after DNS resolution and immediately before the connect, so a name that resolves to
 * something else on the second lookup (DNS rebinding) gains nothing. {@code socketFactoryArg} carries the policy's
 * address rules and the target's database name ({@link ConnectionPolicy#socketArg}): pgjdbc may load this class in
 * another class loader than the engine's beans, so it holds no shared state.
 */
@RegisterForReflection
public final class PolicySocketFactory extends SocketFactory {

    private final ConnectionPolicy policy;
    private final String database;

    /** pgjdbc's constructor of choice: the connection's properties. */
    public PolicySocketFactory(Properties info) {
        var rules = ConnectionPolicy.fromSocketArg(info.getProperty("socketFactoryArg"));
        this.policy = rules.getKey();
        this.database = rules.getValue();
    }

    @Override
    public Socket createSocket() {
        return new CheckedSocket(policy, database);
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        Socket socket = createSocket();
        socket.connect(new InetSocketAddress(host, port));
        return socket;
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        Socket socket = createSocket();
        socket.bind(new InetSocketAddress(localHost, localPort));
        socket.connect(new InetSocketAddress(host, port));
        return socket;
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        return createSocket(host.getHostAddress(), port);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
            throws IOException {
        return createSocket(address.getHostAddress(), port, localAddress, localPort);
    }

    private static final class CheckedSocket extends Socket {
        private final ConnectionPolicy policy;
        private final String database;

        CheckedSocket(ConnectionPolicy policy, String database) {
            this.policy = policy;
            this.database = database;
        }

        @Override
        public void connect(SocketAddress endpoint, int timeout) throws IOException {
            if (!(endpoint instanceof InetSocketAddress inet)) {
                throw new TargetRefusedException("not an internet address: " + endpoint);
            }
            InetSocketAddress resolved = inet.isUnresolved()
                    ? new InetSocketAddress(InetAddress.getByName(inet.getHostString()), inet.getPort())
                    : inet;
            policy.checkAddress(inet.getHostString(), resolved.getAddress(), resolved.getPort(), database);
            super.connect(resolved, timeout);
        }
    }
}
