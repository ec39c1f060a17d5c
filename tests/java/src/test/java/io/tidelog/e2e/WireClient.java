package io.tidelog.e2e;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;

import org.apache.kafka.common.message.ApiMessageType;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ApiMessage;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.ObjectSerializationCache;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.requests.ResponseHeader;

/**
 * One connection that sends requests exactly as given, any version, with Kafka's own
 * generated message classes, and reads their responses: what the differential tests send
 * to Tidelog and to Kafka alike, wrong requests included (a client library would refuse
 * or repair them).
 */
final class WireClient implements AutoCloseable {
    private final String bootstrap;
    private Socket socket;
    private DataInputStream in;
    private OutputStream out;
    private int correlationId;

    WireClient(String bootstrap) throws IOException {
        this.bootstrap = bootstrap;
        connect();
    }

    /** A new connection in place of the current one (which the broker may have closed). */
    void connect() throws IOException {
        if (socket != null) {
            socket.close();
        }
        String[] hostPort = bootstrap.split(":");
        socket = new Socket(hostPort[0], Integer.parseInt(hostPort[1]));
        socket.setSoTimeout(30_000);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    ApiMessage send(ApiKeys api, short version, ApiMessage request) throws IOException {
        write(api, version, request);
        return read(api, version);
    }

    /** Sends a request that has no response (a Produce with acks=0). */
    void write(ApiKeys api, short version, ApiMessage request) throws IOException {
        RequestHeader header = new RequestHeader(api, version, "tidelog-differential", ++correlationId);
        short headerVersion = header.headerVersion();
        ObjectSerializationCache cache = new ObjectSerializationCache();
        int size = header.data().size(cache, headerVersion) + request.size(cache, version);
        ByteBuffer frame = ByteBuffer.allocate(4 + size);
        frame.putInt(size);
        ByteBufferAccessor writer = new ByteBufferAccessor(frame);
        header.data().write(writer, cache, headerVersion);
        request.write(writer, cache, version);
        out.write(frame.array());
        out.flush();
    }

    private ApiMessage read(ApiKeys api, short version) throws IOException {
        byte[] body = new byte[in.readInt()];
        in.readFully(body);
        ByteBuffer buffer = ByteBuffer.wrap(body);
        ResponseHeader responseHeader = ResponseHeader.parse(buffer, api.responseHeaderVersion(version));
        if (responseHeader.correlationId() != correlationId) {
            throw new IOException("correlation id " + responseHeader.correlationId() + ", expected " + correlationId);
        }
        ApiMessage response = ApiMessageType.fromApiKey(api.id).newResponse();
        response.read(new ByteBufferAccessor(buffer), version);
        return response;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
