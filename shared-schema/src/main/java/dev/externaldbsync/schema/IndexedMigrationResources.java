package dev.externaldbsync.schema;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

import org.flywaydb.core.api.ResourceProvider;
import org.flywaydb.core.api.resource.LoadableResource;

/**
 * Hands Flyway the migration files listed in {@code <folder>/migrations.idx} instead of letting it scan the classpath.
 * <p>
 * Why: classpath scanning does not work in a GraalVM native image, and an explicit list also makes the set of
 * migrations a reviewed artefact. {@code MigrationIndexTest} fails the build when the index and the folder disagree.
 */
final class IndexedMigrationResources implements ResourceProvider {

    static final String INDEX_FILE = "migrations.idx";

    private final String folder;
    private final List<String> fileNames;

    IndexedMigrationResources(String folder) {
        this.folder = folder;
        this.fileNames = readIndex(folder);
    }

    static List<String> readIndex(String folder) {
        String indexPath = folder + "/" + INDEX_FILE;
        InputStream in = IndexedMigrationResources.class.getClassLoader().getResourceAsStream(indexPath);
        if (in == null) {
            throw new IllegalStateException("Migration index not found on the classpath: " + indexPath);
        }
        List<String> names = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                String name = line.strip();
                if (!name.isEmpty() && !name.startsWith("#")) {
                    names.add(name);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + indexPath, e);
        }
        return List.copyOf(names);
    }

    @Override
    public LoadableResource getResource(String name) {
        String fileName = name.contains("/") ? name.substring(name.lastIndexOf('/') + 1) : name;
        return fileNames.contains(fileName) ? new Resource(fileName) : null;
    }

    @Override
    public Collection<LoadableResource> getResources(String prefix, String[] suffixes) {
        List<LoadableResource> matches = new ArrayList<>();
        for (String fileName : fileNames) {
            if (fileName.startsWith(prefix) && Arrays.stream(suffixes).anyMatch(fileName::endsWith)) {
                matches.add(new Resource(fileName));
            }
        }
        return matches;
    }

    private final class Resource extends LoadableResource {
        private final String fileName;

        Resource(String fileName) {
            this.fileName = fileName;
        }

        @Override
        public Reader read() {
            String path = folder + "/" + fileName;
            InputStream in = IndexedMigrationResources.class.getClassLoader().getResourceAsStream(path);
            if (in == null) {
                throw new IllegalStateException("Migration listed in the index is missing: " + path);
            }
            return new InputStreamReader(in, StandardCharsets.UTF_8);
        }

        @Override
        public String getAbsolutePath() {
            return folder + "/" + fileName;
        }

        @Override
        public String getAbsolutePathOnDisk() {
            return getAbsolutePath();
        }

        @Override
        public String getFilename() {
            return fileName;
        }

        @Override
        public String getRelativePath() {
            return fileName;
        }
    }
}
