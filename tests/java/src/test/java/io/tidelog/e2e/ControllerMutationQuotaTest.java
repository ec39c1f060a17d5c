package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.ThrottlingQuotaExceededException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.junit.jupiter.api.Test;

/**
 * Kafka's Java Admin against a {@code controller_mutation_rate} (KIP-599): it sets the quota
 * with AlterClientQuotas, and its CreateTopics (a strict version) over the rate gets
 * ThrottlingQuotaExceededException, with the time to wait, for the topic over it, while the
 * topics before it are created.
 */
class ControllerMutationQuotaTest {
    private static final String CLIENT_ID = "mutation-quota-admin";

    @Test
    void topicsOverTheMutationRateAreRefusedWithTheTimeToWait() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start();
                Admin admin = Admin.create(broker.clientProps(Map.of("client.id", CLIENT_ID)))) {
            // One partition a second: a bucket of 11, full at first.
            ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, CLIENT_ID));
            ClientQuotaAlteration.Op rate = new ClientQuotaAlteration.Op("controller_mutation_rate", 1.0);
            admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity, List.of(rate)))).all().get();

            // The Admin would retry a throttled topic until its timeout; asked not to, it
            // reports the error.
            CreateTopicsOptions noRetry = new CreateTopicsOptions().retryOnQuotaViolation(false);
            CreateTopicsResult result = admin.createTopics(List.of(
                    new NewTopic("first", 6, (short) 1),
                    new NewTopic("second", 6, (short) 1),
                    new NewTopic("third", 1, (short) 1)), noRetry);
            result.values().get("first").get();
            result.values().get("second").get();
            ExecutionException refused = assertThrows(ExecutionException.class,
                    () -> result.values().get("third").get());
            ThrottlingQuotaExceededException exceeded =
                    assertInstanceOf(ThrottlingQuotaExceededException.class, refused.getCause());
            assertTrue(exceeded.throttleTimeMs() > 0, "throttle time " + exceeded.throttleTimeMs());
            assertEquals(Set.of("first", "second"), admin.listTopics().names().get());
        }
    }
}
