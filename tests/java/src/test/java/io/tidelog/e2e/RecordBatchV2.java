package io.tidelog.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.GZIPOutputStream;

/**
 * A record batch in Kafka's v2 format, written here from the format's description (the
 * client's own builder moved package between 4.0 and 4.4): what the differential corpus
 * produces. Keys are "k1", "k2", ... but for the records listed as keyless (a null key);
 * timestamps one millisecond apart; no headers.
 */
final class RecordBatchV2 {
    static final long NO_PRODUCER_ID = -1;
    static final short NO_PRODUCER_EPOCH = -1;
    static final int NO_SEQUENCE = -1;

    private RecordBatchV2() {
    }

    static byte[] build(List<String> values, java.util.Set<Integer> keyless, long firstTimestamp, long producerId,
                        short producerEpoch, int baseSequence, boolean transactional, boolean gzip,
                        boolean corruptCrc) throws IOException {
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        for (int i = 0; i < values.size(); i++) {
            ByteArrayOutputStream record = new ByteArrayOutputStream();
            record.write(0); // attributes
            writeVarlong(record, i); // timestamp delta
            writeVarlong(record, i); // offset delta
            byte[] value = values.get(i).getBytes(StandardCharsets.UTF_8);
            if (keyless.contains(i)) {
                writeVarlong(record, -1);
            } else {
                byte[] key = ("k" + (i + 1)).getBytes(StandardCharsets.UTF_8);
                writeVarlong(record, key.length);
                record.write(key);
            }
            writeVarlong(record, value.length);
            record.write(value);
            writeVarlong(record, 0); // headers
            writeVarlong(records, record.size());
            record.writeTo(records);
        }
        byte[] body = records.toByteArray();
        if (gzip) {
            ByteArrayOutputStream compressed = new ByteArrayOutputStream();
            try (GZIPOutputStream out = new GZIPOutputStream(compressed)) {
                out.write(body);
            }
            body = compressed.toByteArray();
        }
        int afterCrc = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4 + body.length;
        ByteBuffer batch = ByteBuffer.allocate(8 + 4 + 4 + 1 + 4 + afterCrc);
        batch.putLong(0); // base offset: the broker assigns it
        batch.putInt(4 + 1 + 4 + afterCrc); // length of what follows this field
        batch.putInt(-1); // partition leader epoch
        batch.put((byte) 2); // magic
        int crcAt = batch.position();
        batch.putInt(0);
        int attributesAt = batch.position();
        batch.putShort((short) ((gzip ? 1 : 0) | (transactional ? 0x10 : 0)));
        batch.putInt(values.size() - 1); // last offset delta
        batch.putLong(firstTimestamp);
        batch.putLong(firstTimestamp + values.size() - 1);
        batch.putLong(producerId);
        batch.putShort(producerEpoch);
        batch.putInt(baseSequence);
        batch.putInt(values.size());
        batch.put(body);
        CRC32C crc = new CRC32C();
        crc.update(batch.array(), attributesAt, batch.position() - attributesAt);
        batch.putInt(crcAt, (int) crc.getValue() ^ (corruptCrc ? 1 : 0));
        return batch.array();
    }

    /** A zigzag varint, as every length and delta of a v2 record is written. */
    private static void writeVarlong(ByteArrayOutputStream out, long value) {
        long zigzag = (value << 1) ^ (value >> 63);
        while ((zigzag & ~0x7FL) != 0) {
            out.write((int) ((zigzag & 0x7F) | 0x80));
            zigzag >>>= 7;
        }
        out.write((int) zigzag);
    }
}
