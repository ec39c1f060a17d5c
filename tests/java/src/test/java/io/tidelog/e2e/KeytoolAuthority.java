package io.tidelog.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority for a test, made with the JDK's own {@code keytool}: PKCS12 stores
 * as a Java client's operator makes them, so the broker reads what keytool writes. A key
 * store holds one key entry whose chain ends with this CA; the trust store holds the CA.
 * Every store and key has the password {@link #PASSWORD}.
 */
final class KeytoolAuthority {
    static final String PASSWORD = "tidelog-test-store";
    /** keytool starts a JVM and makes one EC key: seconds. A safety net only. */
    private static final long KEYTOOL_TIMEOUT_S = 120;
    private static final String CA_ALIAS = "ca";

    private final Path directory;
    private final Path caStore;
    private final Path caCertificate;
    private final Path truststore;

    /**
     * Makes the CA (a self-signed certificate, {@code CN=name}) and a trust store holding
     * it in {@code directory}.
     */
    KeytoolAuthority(Path directory, String name) throws IOException, InterruptedException {
        this.directory = directory;
        this.caStore = directory.resolve(name + "-ca.p12");
        this.caCertificate = directory.resolve(name + "-ca.pem");
        newKeyPair(caStore, CA_ALIAS, "CN=" + name, "-ext", "bc:c");
        keytool("-exportcert", "-rfc", "-alias", CA_ALIAS, "-keystore", caStore.toString(),
                "-file", caCertificate.toString());
        this.truststore = directory.resolve(name + "-truststore.p12");
        importCertificate(truststore, CA_ALIAS, caCertificate);
    }

    /** The PKCS12 trust store holding this CA's certificate alone. */
    Path truststore() {
        return truststore;
    }

    /**
     * A PKCS12 key store {@code name.p12} with a new key and its certificate for the subject
     * {@code distinguishedName}, signed by this CA, the CA's certificate next in its chain;
     * {@code subjectAltNames} in keytool's form ({@code dns:localhost,ip:127.0.0.1}) or none.
     */
    Path keystore(String name, String distinguishedName, String... subjectAltNames)
            throws IOException, InterruptedException {
        Path store = directory.resolve(name + ".p12");
        Path request = directory.resolve(name + ".csr");
        Path signed = directory.resolve(name + ".pem");
        newKeyPair(store, name, distinguishedName);
        keytool("-certreq", "-alias", name, "-keystore", store.toString(), "-file", request.toString());
        List<String> sign = new ArrayList<>(List.of("-gencert", "-rfc", "-validity", "2", "-alias", CA_ALIAS,
                "-keystore", caStore.toString(), "-infile", request.toString(), "-outfile", signed.toString()));
        if (subjectAltNames.length > 0) {
            sign.addAll(List.of("-ext", "SAN=" + String.join(",", subjectAltNames)));
        }
        keytool(sign.toArray(String[]::new));
        // keytool installs a signed certificate only when it can build the chain to a
        // certificate in the store: the CA goes in for that, and out again after.
        importCertificate(store, CA_ALIAS, caCertificate);
        importCertificate(store, name, signed);
        keytool("-delete", "-alias", CA_ALIAS, "-keystore", store.toString());
        return store;
    }

    private static void newKeyPair(Path store, String alias, String distinguishedName, String... more)
            throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("-genkeypair", "-alias", alias, "-dname", distinguishedName,
                "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA", "-validity", "2",
                "-storetype", "PKCS12", "-keystore", store.toString(), "-keypass", PASSWORD));
        args.addAll(List.of(more));
        keytool(args.toArray(String[]::new));
    }

    private static void importCertificate(Path store, String alias, Path certificate)
            throws IOException, InterruptedException {
        keytool("-importcert", "-noprompt", "-alias", alias, "-file", certificate.toString(),
                "-storetype", "PKCS12", "-keystore", store.toString());
    }

    private static void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        command.addAll(List.of("-storepass", PASSWORD));
        Path output = Files.createTempFile("keytool-", ".out");
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(output.toFile()).start();
            if (!process.waitFor(KEYTOOL_TIMEOUT_S, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("keytool hung: " + command);
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException("keytool failed: " + command + "\n"
                        + Files.readString(output, StandardCharsets.UTF_8));
            }
        } finally {
            Files.deleteIfExists(output);
        }
    }
}
