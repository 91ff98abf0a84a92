package dev.externaldbsync.verifier;

/**
 * A 64-bit hash of one row's text values (FNV-1a over the characters, with a marker per column that tells null from
 * empty, finished with the splitmix64 avalanche). Unit digests are the <i>sum</i> of row hashes modulo 2^64: order
 * independent like XOR, but a duplicated row does not cancel itself out. Stateless, thread-safe.
 */
final class RowHash {

    private static final long OFFSET = 0xcbf29ce484222325L;
    private static final long PRIME = 0x100000001b3L;

    private RowHash() {
    }

    static long of(String[] row, int width) {
        long h = OFFSET;
        for (int i = 0; i < width; i++) {
            String v = row[i];
            if (v == null) {
                h = (h ^ 0x1_0000L) * PRIME;
            } else {
                for (int j = 0; j < v.length(); j++) {
                    h = (h ^ v.charAt(j)) * PRIME;
                }
                h = (h ^ 0x2_0000L) * PRIME;
            }
        }
        h ^= h >>> 30;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 27;
        h *= 0x94d049bb133111ebL;
        h ^= h >>> 31;
        return h;
    }
}
