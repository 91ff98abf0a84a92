package dev.externaldbsync.engine.target;

import java.io.IOException;

/**
 * The connection policy refused a target's resolved address. An {@link IOException} because it is thrown from a
 * socket's {@code connect}; pgjdbc wraps it, and {@link TargetPools} unwraps it again so its reason is what the run
 * reports.
 */
public final class TargetRefusedException extends IOException {

    private static final long serialVersionUID = 1L;

    public TargetRefusedException(String reason) {
        super(reason);
    }
}
