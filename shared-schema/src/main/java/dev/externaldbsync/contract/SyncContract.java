package dev.externaldbsync.contract;

/**
 * The poller → sync engine contract.
 *
 * <pre>
 * POST /api/v1/sync
 * Content-Type: application/json
 * X-Sync-Timestamp: &lt;unix seconds&gt;
 * X-Sync-Signature: v1=&lt;hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body bytes)&gt;
 *
 * {"tenancyIds": ["…uuid…", …]}                                    → {@link SyncRequest}
 * </pre>
 *
 * Responses, and what the poller does with them:
 * <ul>
 * <li>{@code 200} with a {@link SyncResponse}: one {@link TenancyResult} per requested tenancy; a tenancy whose
 * {@code retry} is false is done (delete its request), one whose {@code retry} is true is retried with backoff.
 * <li>{@code 400}: the body is not a valid request; retrying cannot help (park).
 * <li>{@code 401}: missing, malformed, wrong or stale signature; nothing was done (retry with backoff, then park:
 * usually a secret being rotated).
 * <li>{@code 503} or any other 5xx, a timeout or a connection error: retry everything with backoff.
 * </ul>
 */
public final class SyncContract {

    public static final String SYNC_PATH = "/api/v1/sync";
    public static final String TIMESTAMP_HEADER = "X-Sync-Timestamp";
    public static final String SIGNATURE_HEADER = "X-Sync-Signature";
    public static final String SIGNATURE_VERSION = "v1";

    private SyncContract() {
    }
}
