package dev.externaldbsync.poller.dashboard;

import java.util.ArrayDeque;

/**
 * The rate of a growing counter (stamps issued, rows applied by one engine replica) from readings taken now and then:
 * the increase between the oldest reading within the window and the newest, per second. A smoothed figure (like the
 * poller's own deliveries/s) rather than the noise of two consecutive samples. A counter that goes down (a restarted
 * engine replica) starts over. Bounded: readings older than the window are dropped. Not thread-safe; the sampler
 * serialises its use.
 */
final class CounterRate {

    private record Reading(long atMillis, long value) {
    }

    private final long windowMillis;
    private final ArrayDeque<Reading> readings = new ArrayDeque<>();

    CounterRate(long windowMillis) {
        this.windowMillis = windowMillis;
    }

    void add(long atMillis, long value) {
        Reading newest = readings.peekLast();
        if (newest != null && (value < newest.value() || atMillis < newest.atMillis())) {
            readings.clear();
        }
        readings.addLast(new Reading(atMillis, value));
        // Keep one reading at or beyond the window's start, so the rate always spans the whole window.
        while (readings.size() > 2) {
            var it = readings.iterator();
            it.next();
            if (it.next().atMillis() <= atMillis - windowMillis) {
                readings.removeFirst();
            } else {
                break;
            }
        }
    }

    /** Per second over the readings kept; null until two readings at different times exist. */
    Double perSecond() {
        Reading oldest = readings.peekFirst();
        Reading newest = readings.peekLast();
        if (oldest == null || newest.atMillis() <= oldest.atMillis()) {
            return null;
        }
        return (newest.value() - oldest.value()) * 1000.0 / (newest.atMillis() - oldest.atMillis());
    }

    /** When the newest reading was taken (Long.MIN_VALUE when none). */
    long lastMillis() {
        Reading newest = readings.peekLast();
        return newest == null ? Long.MIN_VALUE : newest.atMillis();
    }
}
