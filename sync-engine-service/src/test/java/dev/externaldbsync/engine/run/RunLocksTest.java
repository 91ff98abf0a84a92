package dev.externaldbsync.engine.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;

class RunLocksTest {

    @Test
    void aLockKeyIsTheFirstEightBytesOfTheSha256OfTenancyAndTargetSoEveryReplicaAndVersionAgrees() throws Exception {
        UUID tenancy = UUID.fromString("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f");
        byte[] digest = MessageDigest.getInstance("SHA-256")
                .digest(("sync-engine:" + tenancy + ":main").getBytes(StandardCharsets.UTF_8));

        assertThat(RunLocks.key(tenancy, "main")).isEqualTo(ByteBuffer.wrap(digest).getLong());
        assertThat(RunLocks.key(tenancy, "other")).isNotEqualTo(RunLocks.key(tenancy, "main"));
    }

    @Test
    void keysComputedOnManyThreadsAtOnceAreTheSameAsOnOne() {
        List<UUID> tenancies = IntStream.range(0, 200).mapToObj(i -> new UUID(i, i * 31L)).toList();
        List<Long> sequential = tenancies.stream().map(t -> RunLocks.key(t, "main")).toList();
        Set<Long> parallel = ConcurrentHashMap.newKeySet();
        IntStream.range(0, 20).parallel().forEach(round -> tenancies.parallelStream()
                .forEach(t -> parallel.add(RunLocks.key(t, "main"))));

        assertThat(parallel).containsExactlyInAnyOrderElementsOf(sequential);
    }
}
