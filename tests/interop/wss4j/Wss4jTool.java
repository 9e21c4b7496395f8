/*
 * Wss4jTool: a small command-line signer and verifier built on Apache WSS4J 1.6, for the interop tests
 * of the gateway. It uses WSS4J's ordinary API the way a Java SOAP stack (CXF, Axis2, Spring-WS) would,
 * and keeps WSS4J's default output, so that our Python implementation is tested against what Dutch
 * government and vendor services really send.
 *
 * Usage:
 *   java Wss4jTool sign   --cert CERT.pem --key KEY.pem --in UNSIGNED.xml --out SIGNED.xml [--ttl SECONDS]
 *   java Wss4jTool verify --ca CA.pem --in SIGNED.xml
 *
 * sign:   adds a wsse:Security header (mustUnderstand="1") holding a wsu:Timestamp (TTL 300 s unless --ttl),
 *         a BinarySecurityToken with the signer's certificate and a Signature (RSA-SHA256, SHA-256 digests,
 *         exclusive c14n) over the SOAP Body, the Timestamp and every WS-Addressing 1.0 header present.
 *         KEY.pem is an unencrypted PKCS#8 RSA key in PEM; a PKCS#1 ("RSA") PEM key
 *         is accepted too.
 * verify: processes the Security header with WSSecurityEngine; the signer's certificate (from the BST)
 *         must chain to the CA certificates in CA.pem (PEM, concatenated); no revocation check.
 *         Prints "SIGNED {namespace}localName" per signed element (in SignedInfo order) and
 *         "SIGNER <subject DN, RFC 2253, serialNumber spelled as such>", exit status 0.
 *
 * Any failure prints "ERROR <message>" on stdout (details on stderr) and exits with status 1;
 * a malformed command line exits with status 2.
 */

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.security.auth.x500.X500Principal;
import javax.xml.XMLConstants;
import javax.xml.namespace.QName;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;

import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSDataRef;
import org.apache.ws.security.WSEncryptionPart;
import org.apache.ws.security.WSSConfig;
import org.apache.ws.security.WSSecurityEngine;
import org.apache.ws.security.WSSecurityEngineResult;
import org.apache.ws.security.components.crypto.Merlin;
import org.apache.ws.security.message.WSSecHeader;
import org.apache.ws.security.message.WSSecSignature;
import org.apache.ws.security.message.WSSecTimestamp;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;

public final class Wss4jTool {

    static final String SOAP11_NS = WSConstants.URI_SOAP11_ENV;
    static final String WSA_NS = "http://www.w3.org/2005/08/addressing";
    static final String RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    static final String SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256";
    static final String KEY_ALIAS = "signer";
    static final String KEY_PASSWORD = "in-memory-only";

    /** Thrown for a malformed command line (exit status 2). */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    public static void main(String[] argv) {
        int status;
        try {
            status = run(argv);
        } catch (UsageException e) {
            System.out.println("ERROR " + e.getMessage());
            System.err.println(usage());
            status = 2;
        } catch (Throwable t) {
            System.out.println("ERROR " + describe(t));
            t.printStackTrace(System.err);
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }

    static String usage() {
        return "usage: Wss4jTool sign --cert CERT.pem --key KEY.pem --in UNSIGNED.xml --out SIGNED.xml"
             + " [--ttl SECONDS]\n"
             + "       Wss4jTool verify --ca CA.pem --in SIGNED.xml";
    }

    /** One line: the message of the exception and of its causes, without repetitions. */
    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Set<String> seen = new LinkedHashSet<>();
        for (Throwable c = t; c != null && seen.size() < 5; c = c.getCause()) {
            String m = c.getMessage();
            if (m == null || m.isBlank()) {
                m = c.getClass().getName();
            }
            m = m.replaceAll("\\s+", " ").trim();
            if (seen.add(m)) {
                if (sb.length() > 0) {
                    sb.append(" / caused by: ");
                }
                sb.append(m);
            }
        }
        return sb.toString();
    }

    static int run(String[] argv) throws Exception {
        if (argv.length == 0) {
            throw new UsageException("no command given");
        }
        String command = argv[0];
        Map<String, String> opts = parseOptions(argv);
        switch (command) {
            case "sign":
                requireOptions(opts, "--cert", "--key", "--in", "--out");
                int ttl = 300;
                if (opts.containsKey("--ttl")) {
                    try {
                        ttl = Integer.parseInt(opts.get("--ttl"));
                    } catch (NumberFormatException e) {
                        throw new UsageException("--ttl wants a number of seconds");
                    }
                }
                sign(new File(opts.get("--cert")), new File(opts.get("--key")), new File(opts.get("--in")),
                     new File(opts.get("--out")), ttl);
                return 0;
            case "verify":
                requireOptions(opts, "--ca", "--in");
                for (String line : verify(new File(opts.get("--ca")), new File(opts.get("--in")))) {
                    System.out.println(line);
                }
                return 0;
            default:
                throw new UsageException("unknown command " + command);
        }
    }

    static Map<String, String> parseOptions(String[] argv) throws UsageException {
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) {
                throw new UsageException("unexpected argument " + argv[i]);
            }
            if (i + 1 >= argv.length) {
                throw new UsageException("option " + argv[i] + " wants a value");
            }
            opts.put(argv[i], argv[i + 1]);
        }
        return opts;
    }

    static void requireOptions(Map<String, String> opts, String... names) throws UsageException {
        for (String n : names) {
            if (!opts.containsKey(n)) {
                throw new UsageException("missing option " + n);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ sign

    static void sign(File certFile, File keyFile, File in, File out, int ttl) throws Exception {
        WSSConfig.init();
        X509Certificate cert = readCertificates(certFile).get(0);
        PrivateKey key = readPrivateKey(keyFile);

        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        keyStore.load(null, null);
        keyStore.setKeyEntry(KEY_ALIAS, key, KEY_PASSWORD.toCharArray(), new Certificate[] {cert});
        Merlin crypto = new Merlin();
        crypto.setKeyStore(keyStore);

        Document doc = parse(in);
        Element envelope = doc.getDocumentElement();
        if (!"Envelope".equals(envelope.getLocalName()) || !SOAP11_NS.equals(envelope.getNamespaceURI())) {
            throw new IllegalArgumentException("not a SOAP 1.1 Envelope: {" + envelope.getNamespaceURI() + "}"
                                               + envelope.getLocalName());
        }

        // The parts to sign: the Body, the Timestamp and every WS-Addressing header, each once by name.
        List<WSEncryptionPart> parts = new ArrayList<>();
        parts.add(new WSEncryptionPart(WSConstants.ELEM_BODY, SOAP11_NS, "Element"));
        parts.add(new WSEncryptionPart("Timestamp", WSConstants.WSU_NS, "Element"));
        Element header = child(envelope, SOAP11_NS, WSConstants.ELEM_HEADER);
        if (header != null) {
            Set<String> wsaNames = new LinkedHashSet<>();
            for (Node n = header.getFirstChild(); n != null; n = n.getNextSibling()) {
                if (n.getNodeType() == Node.ELEMENT_NODE && WSA_NS.equals(n.getNamespaceURI())) {
                    wsaNames.add(n.getLocalName());
                }
            }
            for (String name : wsaNames) {
                parts.add(new WSEncryptionPart(name, WSA_NS, "Element"));
            }
        }

        WSSecHeader secHeader = new WSSecHeader();
        secHeader.setMustUnderstand(true);
        secHeader.insertSecurityHeader(doc);

        WSSecTimestamp timestamp = new WSSecTimestamp();
        timestamp.setTimeToLive(ttl);
        timestamp.build(doc, secHeader);

        WSSecSignature signature = new WSSecSignature();
        signature.setUserInfo(KEY_ALIAS, KEY_PASSWORD);
        signature.setKeyIdentifierType(WSConstants.BST_DIRECT_REFERENCE);
        signature.setSignatureAlgorithm(RSA_SHA256);
        signature.setDigestAlgo(SHA256);
        signature.setSigCanonicalization(WSConstants.C14N_EXCL_OMIT_COMMENTS);
        signature.setParts(parts);
        signature.build(doc, crypto, secHeader);

        write(doc, out);
    }

    // ---------------------------------------------------------------------------------------------- verify

    static List<String> verify(File caFile, File in) throws Exception {
        WSSConfig.init();
        List<X509Certificate> cas = readCertificates(caFile);
        KeyStore trustStore = KeyStore.getInstance("PKCS12");
        trustStore.load(null, null);
        for (int i = 0; i < cas.size(); i++) {
            trustStore.setCertificateEntry("ca" + i, cas.get(i));
        }
        Merlin crypto = new Merlin();
        crypto.setTrustStore(trustStore);

        Document doc = parse(in);
        WSSecurityEngine engine = new WSSecurityEngine();
        List<WSSecurityEngineResult> results = engine.processSecurityHeader(doc, null, null, crypto);
        if (results == null || results.isEmpty()) {
            throw new IllegalStateException("no wsse:Security header for the default actor");
        }

        List<String> lines = new ArrayList<>();
        X509Certificate signer = null;
        int signatures = 0;
        for (WSSecurityEngineResult result : results) {
            Integer action = (Integer) result.get(WSSecurityEngineResult.TAG_ACTION);
            if (action == null || action.intValue() != WSConstants.SIGN) {
                continue;
            }
            signatures++;
            signer = (X509Certificate) result.get(WSSecurityEngineResult.TAG_X509_CERTIFICATE);
            @SuppressWarnings("unchecked")
            List<WSDataRef> refs = (List<WSDataRef>) result.get(WSSecurityEngineResult.TAG_DATA_REF_URIS);
            if (refs != null) {
                for (WSDataRef ref : refs) {
                    QName name = ref.getName();
                    lines.add("SIGNED {" + (name.getNamespaceURI() == null ? "" : name.getNamespaceURI()) + "}"
                              + name.getLocalPart());
                }
            }
        }
        if (signatures == 0) {
            throw new IllegalStateException("the Security header carries no signature");
        }
        if (signatures > 1) {
            throw new IllegalStateException("the Security header carries " + signatures + " signatures");
        }
        if (signer == null) {
            throw new IllegalStateException("the signature was not made with an X.509 certificate");
        }
        Map<String, String> keywords = new HashMap<>();
        keywords.put("2.5.4.5", "serialNumber");
        lines.add("SIGNER " + signer.getSubjectX500Principal().getName(X500Principal.RFC2253, keywords));
        return lines;
    }

    // ------------------------------------------------------------------------------------------------- XML

    static Document parse(File in) throws Exception {
        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        dbf.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        dbf.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        dbf.setExpandEntityReferences(false);
        dbf.setXIncludeAware(false);
        DocumentBuilder db = dbf.newDocumentBuilder();
        db.setErrorHandler(null);
        try (InputStream is = new FileInputStream(in)) {
            return db.parse(new InputSource(is));
        }
    }

    static void write(Document doc, File out) throws Exception {
        TransformerFactory tf = TransformerFactory.newInstance();
        Transformer t = tf.newTransformer();
        t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
        t.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
        t.setOutputProperty(OutputKeys.INDENT, "no");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        buf.write("<?xml version=\"1.0\" encoding=\"UTF-8\"?>".getBytes(StandardCharsets.US_ASCII));
        t.transform(new DOMSource(doc), new StreamResult(buf));
        try (OutputStream os = new FileOutputStream(out)) {
            buf.writeTo(os);
        }
    }

    static Element child(Element parent, String ns, String localName) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n.getNodeType() == Node.ELEMENT_NODE && ns.equals(n.getNamespaceURI())
                && localName.equals(n.getLocalName())) {
                return (Element) n;
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------------- PEM

    static List<X509Certificate> readCertificates(File f) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> certs = new ArrayList<>();
        try (InputStream is = new FileInputStream(f)) {
            Collection<? extends Certificate> all = cf.generateCertificates(is);
            for (Certificate c : all) {
                certs.add((X509Certificate) c);
            }
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException("no certificate in " + f);
        }
        return certs;
    }

    static PrivateKey readPrivateKey(File f) throws Exception {
        String pem = new String(Files.readAllBytes(f.toPath()), StandardCharsets.US_ASCII);
        Map<String, byte[]> blocks = pemBlocks(pem);
        byte[] der;
        if (blocks.containsKey("PRIVATE KEY")) {
            der = blocks.get("PRIVATE KEY");
        } else if (blocks.containsKey("RSA PRIVATE KEY")) {
            der = pkcs1ToPkcs8(blocks.get("RSA PRIVATE KEY"));
        } else if (blocks.containsKey("ENCRYPTED PRIVATE KEY")) {
            throw new IllegalArgumentException("encrypted private keys are not supported: " + f);
        } else {
            throw new IllegalArgumentException("no PKCS#8 PEM private key in " + f);
        }
        return KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    static Map<String, byte[]> pemBlocks(String pem) {
        Map<String, byte[]> blocks = new LinkedHashMap<>();
        int pos = 0;
        while (true) {
            int begin = pem.indexOf("-----BEGIN ", pos);
            if (begin < 0) {
                break;
            }
            int labelEnd = pem.indexOf("-----", begin + 11);
            if (labelEnd < 0) {
                break;
            }
            String label = pem.substring(begin + 11, labelEnd);
            String endMarker = "-----END " + label + "-----";
            int end = pem.indexOf(endMarker, labelEnd);
            if (end < 0) {
                break;
            }
            String body = pem.substring(labelEnd + 5, end);
            blocks.putIfAbsent(label, Base64.getMimeDecoder().decode(body));
            pos = end + endMarker.length();
        }
        return blocks;
    }

    /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (rsaEncryption, NULL parameters). */
    static byte[] pkcs1ToPkcs8(byte[] pkcs1) throws IOException {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
                            0x01, 0x01, 0x05, 0x00};
        ByteArrayOutputStream inner = new ByteArrayOutputStream();
        inner.write(version);
        inner.write(algorithm);
        inner.write(derTagged(0x04, pkcs1));
        return derTagged(0x30, inner.toByteArray());
    }

    static byte[] derTagged(int tag, byte[] content) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int len = content.length;
        if (len < 0x80) {
            out.write(len);
        } else if (len < 0x100) {
            out.write(0x81);
            out.write(len);
        } else if (len < 0x10000) {
            out.write(0x82);
            out.write(len >> 8);
            out.write(len & 0xff);
        } else {
            out.write(0x83);
            out.write(len >> 16);
            out.write((len >> 8) & 0xff);
            out.write(len & 0xff);
        }
        out.write(content);
        return out.toByteArray();
    }
}
