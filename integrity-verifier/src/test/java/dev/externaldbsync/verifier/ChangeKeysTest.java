package dev.externaldbsync.verifier;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import dev.externaldbsync.mapping.Mapping;
import dev.externaldbsync.mapping.Mappings;

/** The change-log key shape of every mapping covers its target key, so no target-only row is looked up by half a key. */
class ChangeKeysTest {

    @Test
    void everyMappingHasAKeyShapeBuiltFromItsTargetKeyColumnsAndOnlyBoundValues() {
        for (Mapping m : Mappings.ALL) {
            ChangeKeys keys = ChangeKeys.of(m);
            assertThat(keys.parts().stream().map(ChangeKeys.Part::targetColumn).filter(c -> c != null).toList())
                    .as(m.name()).containsAll(m.keyColumns());
            assertThat(keys.expression()).as(m.name())
                    .startsWith("jsonb_build_object(?::text, ?::")
                    .doesNotContain("'");
            long placeholders = keys.expression().chars().filter(c -> c == '?').count();
            assertThat(placeholders).as(m.name()).isEqualTo(2L * keys.parts().size());
        }
    }

    @Test
    void theTenancyIsPartOfTheKeyExceptWhereTheContractKeysByIdAlone() {
        for (Mapping m : Mappings.ALL) {
            boolean byIdAlone = m.name().equals("team_invitations") || m.name().equals("email_outboxes");
            assertThat(ChangeKeys.of(m).parts().stream().anyMatch(p -> p.targetColumn() == null))
                    .as(m.name()).isEqualTo(!byIdAlone);
        }
    }
}
