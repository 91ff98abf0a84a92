package dev.externaldbsync.testing;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import javax.sql.DataSource;

/**
 * Test plumbing: a {@link DataSource} that counts the client-server round trips its connections make, as pgjdbc makes
 * them. Each {@code execute*} is one (pgjdbc sends every statement of a multi-statement string before one Sync), and
 * so are {@code commit}, {@code rollback} and {@code setAutoCommit(true)} of a connection not in autocommit, and
 * {@code isValid}. A transaction's {@code BEGIN} is not one: pgjdbc sends it in front of the first statement. Each
 * round trip is recorded with the SQL it sent, so a test can also say what a transaction ran.
 */
public final class RoundTrips {

    private final DataSource target;
    private final List<String> sent = new ArrayList<>();

    private RoundTrips(DataSource target) {
        this.target = target;
    }

    /** Wraps {@code target}; {@link #dataSource()} hands out counting connections. */
    public static RoundTrips over(DataSource target) {
        return new RoundTrips(target);
    }

    public DataSource dataSource() {
        return proxy(DataSource.class, (proxy, method, args) -> {
            Object result = invoke(target, method, args);
            return result instanceof Connection c && method.getName().equals("getConnection") ? connection(c) : result;
        });
    }

    /** Round trips since the last {@link #reset()}. */
    public synchronized int count() {
        return sent.size();
    }

    /** What each round trip since the last {@link #reset()} sent: SQL text, or {@code COMMIT} and the like. */
    public synchronized List<String> sent() {
        return List.copyOf(sent);
    }

    public synchronized void reset() {
        sent.clear();
    }

    private synchronized void record(String what) {
        sent.add(what);
    }

    private Connection connection(Connection real) {
        return proxy(Connection.class, (proxy, method, args) -> {
            switch (method.getName()) {
                case "commit", "rollback" -> {
                    if (!real.getAutoCommit()) {
                        record(method.getName().toUpperCase());
                    }
                }
                case "setAutoCommit" -> {
                    if ((Boolean) args[0] && !real.getAutoCommit()) {
                        record("COMMIT");
                    }
                }
                case "isValid" -> record("isValid");
                default -> {
                }
            }
            Object result = invoke(real, method, args);
            if (result instanceof Statement s) {
                String sql = args != null && args.length > 0 && args[0] instanceof String text ? text : null;
                Class<?> type = method.getReturnType();
                return statement(type, s, sql);
            }
            return result;
        });
    }

    private Object statement(Class<?> type, Statement real, String preparedSql) {
        return proxy(type, (proxy, method, args) -> {
            if (method.getName().startsWith("execute")) {
                String sql = args != null && args.length > 0 && args[0] instanceof String text ? text : preparedSql;
                record(sql == null ? method.getName() : sql);
            }
            return invoke(real, method, args);
        });
    }

    @SuppressWarnings("unchecked")
    private static <T> T proxy(Class<T> type, InvocationHandler handler) {
        return (T) Proxy.newProxyInstance(RoundTrips.class.getClassLoader(), new Class<?>[] { type }, handler);
    }

    private static Object invoke(Object target, Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Runs {@code sql} on a connection of the wrapped source without counting it (test set-up). */
    void uncounted(String sql) throws SQLException {
        try (Connection c = target.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
