package dev.externaldbsync.schema;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MigrationIndexTest {

    @ParameterizedTest
    @ValueSource(strings = { "db/internal", "db/sync" })
    void indexListsExactlyTheMigrationFilesOfItsFolder(String folder) throws IOException, URISyntaxException {
        Path dir = Path.of(getClass().getClassLoader().getResource(folder).toURI());
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(IndexedMigrationResources.readIndex(folder))
                    .as("%s/%s must list every migration of the folder", folder, IndexedMigrationResources.INDEX_FILE)
                    .containsExactlyInAnyOrderElementsOf(files.map(p -> p.getFileName().toString())
                            .filter(name -> name.endsWith(".sql")).toList());
        }
    }

}
