package io.tidelog.e2e;

import java.util.Map;
import java.util.Properties;

/** A broker the tests' clients connect to: Tidelog, or Apache Kafka beside it. */
interface BrokerEndpoint {
    /** {@code host:port} for {@code bootstrap.servers}. */
    String bootstrap();

    /** Client settings that reach this broker. */
    default Properties clientProps() {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap());
        return props;
    }

    /** {@link #clientProps()} with more settings. */
    default Properties clientProps(Map<String, Object> more) {
        Properties props = clientProps();
        props.putAll(more);
        return props;
    }
}
