package io.tidelog.e2e;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;

import org.apache.kafka.common.message.ApiMessageType;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ApiMessage;

/**
 * The pieces of a differential test: requests read from the corpus's JSON (Kafka's own JSON
 * form of each message, through its generated converters), record batches built from a
 * short description, per-broker variables, and responses flattened to leaf paths and
 * compared with what must differ left out.
 *
 * <p>A corpus file is one sequence: {@code {"name", "steps": [...]}}, with optional
 * {@code "ignore": {"ApiVersions": {pattern: why}}} for every step of an API. A step is
 * {@code {"api": "Produce", "version": 9, "request": {...}}} (naming only the fields that
 * matter: the others take their defaults) with optional {@code "ignore"} (path pattern →
 * why it is left out of the comparison, each listed in docs/COMPATIBILITY.md),
 * {@code "unordered"} (arrays compared as sets) and {@code "save"} (variable name to the
 * JSON pointer of a response value, kept per broker and written into later requests where
 * the string {@code "${name}"} stands, as the value it was: number or string); or {@code {"awaitTopics": ["t"]}}, which waits until both brokers lead
 * every partition of the topics. Inside a request, {@code {"$batch": {...}}} stands for a
 * record batch ({@code {"$batches": [...]}} for several in one record set): {@code values}, and optionally {@code keyless} (indexes of records without a key), {@code producerId}, {@code producerEpoch},
 * {@code baseSequence}, {@code transactional}, {@code timestamp}, {@code compression}
 * ("none" or "gzip"), {@code corruptCrc}.
 */
final class Differential {
    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Left out of every comparison (src/test/resources/differential-ignored.json: pattern →
     * why): what two brokers never share, and what Tidelog leaves out on purpose.
     */
    static List<String> alwaysIgnored() throws java.io.IOException {
        List<String> patterns = new ArrayList<>();
        try (var in = Differential.class.getResourceAsStream("/differential-ignored.json")) {
            JSON.readTree(in).get("ignore").fieldNames().forEachRemaining(patterns::add);
        }
        return patterns;
    }

    /** A variable, written in the corpus as a whole JSON string: {@code "${pid}"}. */
    private static final Pattern VARIABLE = Pattern.compile("\"\\$\\{([A-Za-z0-9_]+)}\"");

    private Differential() {
    }

    /** The step's request JSON with this broker's variables written in and batches built. */
    static ApiMessage request(ApiKeys api, short version, JsonNode template, Map<String, String> variables)
            throws Exception {
        Matcher matcher = VARIABLE.matcher(JSON.writeValueAsString(template));
        StringBuilder text = new StringBuilder();
        while (matcher.find()) {
            String value = variables.get(matcher.group(1));
            if (value == null) {
                throw new IllegalArgumentException("no variable " + matcher.group(1) + " saved yet");
            }
            matcher.appendReplacement(text, Matcher.quoteReplacement(value));
        }
        matcher.appendTail(text);
        JsonNode node = buildBatches(JSON.readTree(text.toString()));
        Class<?> type = ApiMessageType.fromApiKey(api.id).newRequest().getClass();
        Method read = converter(type).getMethod("read", JsonNode.class, short.class);
        return (ApiMessage) read.invoke(null, withDefaults(type, node, version), version);
    }

    /** The JSON converter Kafka generates for a message or one of its structs. */
    private static Class<?> converter(Class<?> type) throws ClassNotFoundException {
        Class<?> outer = type.getEnclosingClass();
        return outer == null
                ? Class.forName(type.getName() + "JsonConverter")
                : Class.forName(outer.getName() + "JsonConverter$" + type.getSimpleName() + "JsonConverter");
    }

    private static JsonNode write(Object message, short version) throws Exception {
        Class<?> converter = converter(message.getClass());
        try {
            return (JsonNode) converter.getMethod("write", message.getClass(), short.class, boolean.class)
                    .invoke(null, message, version, true);
        } catch (NoSuchMethodException noRecords) {
            return (JsonNode) converter.getMethod("write", message.getClass(), short.class)
                    .invoke(null, message, version);
        }
    }

    /**
     * {@code given} over the JSON of a default {@code type}, at every depth: the corpus names
     * only the fields a step cares about, Kafka's converters want every field of the version.
     */
    private static JsonNode withDefaults(Class<?> type, JsonNode given, short version) throws Exception {
        if (!given.isObject()) {
            return given;
        }
        ObjectNode merged = (ObjectNode) write(type.getDeclaredConstructor().newInstance(), version);
        Iterator<Map.Entry<String, JsonNode>> fields = given.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> field = fields.next();
            Class<?> struct = structOf(type, field.getKey());
            JsonNode value = field.getValue();
            if (struct != null && value.isArray()) {
                ArrayNode items = JSON.createArrayNode();
                for (JsonNode item : value) {
                    items.add(withDefaults(struct, item, version));
                }
                value = items;
            } else if (struct != null) {
                value = withDefaults(struct, value, version);
            }
            merged.set(field.getKey(), value);
        }
        return merged;
    }

    /** The struct type of a field (itself, or its array's elements); null for plain values. */
    private static Class<?> structOf(Class<?> type, String field) {
        Method getter;
        try {
            getter = type.getMethod(field);
        } catch (NoSuchMethodException unknown) {
            return null;
        }
        java.lang.reflect.Type returned = getter.getGenericReturnType();
        if (returned instanceof java.lang.reflect.ParameterizedType list) {
            returned = list.getActualTypeArguments()[0];
        } else if (returned instanceof Class<?> collection
                && collection.getGenericSuperclass() instanceof java.lang.reflect.ParameterizedType multi) {
            returned = multi.getActualTypeArguments()[0];
        }
        return returned instanceof Class<?> c && c.getEnclosingClass() != null
                && org.apache.kafka.common.protocol.Message.class.isAssignableFrom(c) ? c : null;
    }

    /** Kafka's JSON form of a response, records included (base64). */
    static JsonNode json(ApiMessage message, short version) throws Exception {
        return write(message, version);
    }

    private static JsonNode buildBatches(JsonNode node) {
        if (node.isObject()) {
            if (node.has("$batch")) {
                return new TextNode(Base64.getEncoder().encodeToString(batch(node.get("$batch"))));
            }
            if (node.has("$batches")) {
                java.io.ByteArrayOutputStream set = new java.io.ByteArrayOutputStream();
                node.get("$batches").forEach(spec -> set.writeBytes(batch(spec)));
                return new TextNode(Base64.getEncoder().encodeToString(set.toByteArray()));
            }
            ObjectNode object = (ObjectNode) node;
            Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
            List<Map.Entry<String, JsonNode>> rebuilt = new ArrayList<>();
            fields.forEachRemaining(e -> rebuilt.add(Map.entry(e.getKey(), buildBatches(e.getValue()))));
            rebuilt.forEach(e -> object.set(e.getKey(), e.getValue()));
        } else if (node.isArray()) {
            ArrayNode array = (ArrayNode) node;
            for (int i = 0; i < array.size(); i++) {
                array.set(i, buildBatches(array.get(i)));
            }
        }
        return node;
    }

    private static byte[] batch(JsonNode spec) {
        List<String> values = new ArrayList<>();
        spec.get("values").forEach(v -> values.add(v.asText()));
        java.util.Set<Integer> keyless = new java.util.HashSet<>();
        spec.path("keyless").forEach(i -> keyless.add(i.asInt()));
        try {
            return RecordBatchV2.build(values, keyless, spec.path("timestamp").asLong(1_700_000_000_000L),
                    spec.path("producerId").asLong(RecordBatchV2.NO_PRODUCER_ID),
                    (short) spec.path("producerEpoch").asInt(RecordBatchV2.NO_PRODUCER_EPOCH),
                    spec.path("baseSequence").asInt(RecordBatchV2.NO_SEQUENCE),
                    spec.path("transactional").asBoolean(false),
                    spec.path("compression").asText("none").equals("gzip"),
                    spec.path("corruptCrc").asBoolean(false));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Every leaf of a JSON tree by its path: array elements by their name where they have one
     * ("/topics/[orders]/partitions/[0]/errorCode"), by position otherwise, sorted first where
     * the array is {@code unordered}.
     */
    static Map<String, String> flatten(JsonNode node, List<String> unordered) {
        Map<String, String> leaves = new TreeMap<>();
        flatten("", node, unordered, leaves);
        return leaves;
    }

    private static void flatten(String path, JsonNode node, List<String> unordered, Map<String, String> leaves) {
        if (node.isObject()) {
            node.fields().forEachRemaining(e -> flatten(path + "/" + e.getKey(), e.getValue(), unordered, leaves));
        } else if (node.isArray()) {
            List<JsonNode> items = new ArrayList<>();
            node.forEach(items::add);
            if (unordered.stream().anyMatch(p -> matches(p, path))) {
                items.sort((a, b) -> a.toString().compareTo(b.toString()));
            }
            if (items.isEmpty()) {
                leaves.put(path, "[]");
            }
            String key = keyOf(items);
            for (int i = 0; i < items.size(); i++) {
                String segment = key == null ? String.valueOf(i) : "[" + items.get(i).get(key).asText() + "]";
                flatten(path + "/" + segment, items.get(i), unordered, leaves);
            }
        } else {
            leaves.put(path, node.toString());
        }
    }

    /** The innermost named array element a path is in ("/a/[x]/b" is in "/a/[x]"), if any. */
    private static String elementOf(String path) {
        int end = path.lastIndexOf("]/");
        return end < 0 ? null : path.substring(0, end + 1);
    }

    /** Fields that name an array's elements, so differences read by name, not position. */
    private static final List<String> KEYS = List.of("name", "topic", "groupId", "resourceName",
            "partitionIndex", "index", "partition");

    /** The field every element has a distinct value of, if any: the array is keyed by it. */
    private static String keyOf(List<JsonNode> items) {
        for (String key : KEYS) {
            if (!items.isEmpty() && items.stream().allMatch(i -> i.isObject() && i.hasNonNull(key))
                    && items.stream().map(i -> i.get(key).asText()).distinct().count() == items.size()) {
                return key;
            }
        }
        return null;
    }

    /** Whether the path, or an element or object it is inside, matches the pattern. */
    private static boolean matchesOrWithin(String pattern, String path) {
        for (int end = path.length(); end > 0; end = path.lastIndexOf('/', end - 1)) {
            if (matches(pattern, path.substring(0, end))) {
                return true;
            }
        }
        return false;
    }

    /** Whether a path matches a pattern: {@code *} one segment, {@code **} any number. */
    static boolean matches(String pattern, String path) {
        return matches(pattern.split("/"), 0, path.split("/"), 0);
    }

    private static boolean matches(String[] pattern, int p, String[] path, int i) {
        if (p == pattern.length) {
            return i == path.length;
        }
        if (pattern[p].equals("**")) {
            for (int skip = i; skip <= path.length; skip++) {
                if (matches(pattern, p + 1, path, skip)) {
                    return true;
                }
            }
            return false;
        }
        return i < path.length && (pattern[p].equals("*") || pattern[p].equals(path[i]))
                && matches(pattern, p + 1, path, i + 1);
    }

    /** The differences of two flattened responses, ignored paths left out; empty when equal. */
    static List<String> differences(Map<String, String> kafka, Map<String, String> tidelog, List<String> ignored) {
        java.util.SortedSet<String> paths = new java.util.TreeSet<>(kafka.keySet());
        paths.addAll(tidelog.keySet());
        List<String> found = new ArrayList<>();
        // An element one side lacks is one difference, not one per leaf.
        java.util.Set<String> onlyOnOneSide = new java.util.HashSet<>();
        for (String path : paths) {
            if (ignored.stream().anyMatch(p -> matchesOrWithin(p, path))) {
                continue;
            }
            String element = elementOf(path);
            if (element != null) {
                boolean inKafka = kafka.keySet().stream().anyMatch(k -> k.startsWith(element + "/"));
                boolean inTidelog = tidelog.keySet().stream().anyMatch(k -> k.startsWith(element + "/"));
                if (inKafka != inTidelog) {
                    if (onlyOnOneSide.add(element)) {
                        found.add(element + ": only " + (inKafka ? "Kafka" : "Tidelog") + " has it");
                    }
                    continue;
                }
            }
            String expected = kafka.get(path);
            String actual = tidelog.get(path);
            if (!java.util.Objects.equals(expected, actual)) {
                found.add(path + ": Kafka " + expected + ", Tidelog " + actual);
            }
        }
        return found;
    }
}
