package dev.externaldbsync.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import jakarta.inject.Inject;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.testing.InternalDatabaseResource;
import io.agroal.api.AgroalDataSource;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;

/** The internal pool's bound on one result (internal.database.max-result-buffer, 32M by default). */
@QuarkusTest
@WithTestResource(InternalDatabaseResource.class)
class InternalResultBufferTest {

    @Inject
    AgroalDataSource internal;

    @Test
    void aResultWiderThanTheBufferFailsItsReadAndThePoolServesTheNextRead() throws Exception {
        try (Connection c = internal.getConnection(); Statement st = c.createStatement()) {
            SQLException e = assertThrows(SQLException.class, () -> {
                try (ResultSet rs = st.executeQuery("SELECT repeat('x', 40 * 1024 * 1024)")) {
                    rs.next();
                }
            });
            assertThat(e.getMessage()).contains("maxResultBuffer");
            assertThat(e.getSQLState()).startsWith("08");
        }
        try (Connection c = internal.getConnection(); Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT length(repeat('x', 1024 * 1024))")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getInt(1)).as("a result within the buffer").isEqualTo(1 << 20);
        }
    }
}
