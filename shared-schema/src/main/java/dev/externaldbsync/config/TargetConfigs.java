package dev.externaldbsync.config;

import java.util.List;

/**
 * The targets of one tenancy, parsed: the usable ones and, separately, one error per unusable entry, so that a bad
 * entry never hides the good ones.
 */
public record TargetConfigs(List<TargetConfig> targets, List<TargetConfigError> errors) {

    public TargetConfigs {
        targets = List.copyOf(targets);
        errors = List.copyOf(errors);
    }

    public static final TargetConfigs NONE = new TargetConfigs(List.of(), List.of());

    public boolean isEmpty() {
        return targets.isEmpty() && errors.isEmpty();
    }
}
