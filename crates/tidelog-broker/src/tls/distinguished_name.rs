//! A certificate subject as Kafka names a TLS client: the distinguished name Java's
//! `X500Principal.getName()` prints (RFC 2253), e.g. `CN=alice,OU=eng,O=Tidelog`. That text
//! is what `ssl.principal.mapping.rules` match and, by default, the principal's name, so it
//! must be Java's byte for byte: the last RDN first, the RFC 2253 keywords (CN, C, L, ST, O,
//! OU, STREET, DC, UID) and the dotted OID with the value's DER in hex for any other
//! attribute, the special characters escaped with a backslash.

use std::fmt::Write;

/// The RFC 2253 text of a subject: `subject` is the DER of the Name without its outer
/// SEQUENCE header (as rustls-webpki hands it over); `None` if it is not DER.
pub fn rfc2253(subject: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    let mut rest = subject;
    while !rest.is_empty() {
        let (set, after) = element(rest, SET)?;
        rest = after;
        let mut avas = Vec::new();
        let mut in_set = set;
        while !in_set.is_empty() {
            let (ava, after) = element(in_set, SEQUENCE)?;
            in_set = after;
            avas.push(attribute(ava)?);
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// `type=value` of one AttributeTypeAndValue.
fn attribute(ava: &[u8]) -> Option<String> {
    let (oid, rest) = element(ava, OID)?;
    let (tag, value, after) = tlv(rest)?;
    let encoded = &rest[..rest.len() - after.len()];
    let oid = dotted(oid)?;
    let keyword = KEYWORDS.iter().find(|(known, _)| *known == oid).map(|(_, k)| *k);
    match (keyword, text(tag, value)) {
        (Some(keyword), Some(text)) => Some(format!("{keyword}={}", escape(&text))),
        (keyword, _) => {
            let mut hex = String::with_capacity(encoded.len() * 2);
            for byte in encoded {
                let _ = write!(hex, "{byte:02x}");
            }
            Some(format!("{}=#{hex}", keyword.map(str::to_string).unwrap_or(oid)))
        }
    }
}

/// The attribute types RFC 2253 (and so Java) prints by keyword.
const KEYWORDS: [(&str, &str); 9] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// A value of one of the string types Java prints as text (others go out as hex).
fn text(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, GeneralString
        0x0c | 0x13 | 0x16 | 0x1b => String::from_utf8(value.to_vec()).ok(),
        // TeletexString, read as Latin-1 as Java does
        0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16, big-endian
        0x1e if value.len() % 2 == 0 => {
            let units: Vec<u16> = value.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253's escaping: a backslash before `, = + < > # ; " \` and before a leading or
/// trailing space.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        if ",=+<>#;\"\\".contains(c) || (c == ' ' && (i == 0 || i == last)) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The dotted text of an OID's content octets.
fn dotted(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut arcs = vec![u64::from(first / 40).min(2), 0];
    arcs[1] = u64::from(first) - arcs[0] * 40;
    let mut arc = 0u64;
    for &byte in rest {
        arc = arc.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
        }
    }
    let dotted: Vec<String> = arcs.iter().map(u64::to_string).collect();
    Some(dotted.join("."))
}

/// The content of the element with `tag` at the start of `input`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match tlv(input)? {
        (found, content, rest) if found == tag => Some((content, rest)),
        _ => None,
    }
}

/// One DER element: its tag, its content and the bytes after it, bounded by `input`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        short if short < 0x80 => (usize::from(short), rest),
        long => {
            let count = usize::from(long & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let len = rest[..count].iter().fold(0usize, |len, &b| len << 8 | usize::from(b));
            (len, &rest[count..])
        }
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One AttributeTypeAndValue: the OID's content, the value's string tag, the value.
    type Ava<'a> = (&'a [u8], u8, &'a [u8]);

    /// A Name's RDN SETs of AVAs, as DER.
    fn name(rdns: &[&[Ava<'_>]]) -> Vec<u8> {
        let wrap = |tag: u8, content: Vec<u8>| {
            let mut out = vec![tag, content.len() as u8];
            out.extend(content);
            out
        };
        rdns.iter()
            .flat_map(|avas| {
                let set: Vec<u8> = avas
                    .iter()
                    .flat_map(|(oid, tag, value)| {
                        let mut ava = wrap(OID, oid.to_vec());
                        ava.extend(wrap(*tag, value.to_vec()));
                        wrap(SEQUENCE, ava)
                    })
                    .collect();
                wrap(SET, set)
            })
            .collect()
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const OU: &[u8] = &[0x55, 0x04, 0x0b];
    // 1.2.840.113549.1.9.1, emailAddress: no RFC 2253 keyword.
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn names_print_last_rdn_first_with_keywords_as_java_does() {
        let der = name(&[&[(O, 0x13, b"Tidelog")], &[(OU, 0x0c, b"eng")], &[(CN, 0x0c, b"alice")]]);
        assert_eq!(rfc2253(&der).as_deref(), Some("CN=alice,OU=eng,O=Tidelog"));
    }

    #[test]
    fn special_characters_are_escaped_and_unknown_types_are_hex() {
        let der = name(&[
            &[(EMAIL, 0x16, b"a@b")],
            &[(CN, 0x0c, b" Smith, J+K=\"x\" ")],
            &[(O, 0x0c, b"#1"), (OU, 0x0c, b"ops")],
        ]);
        assert_eq!(
            rfc2253(&der).as_deref(),
            Some("O=\\#1+OU=ops,CN=\\ Smith\\, J\\+K\\=\\\"x\\\"\\ ,1.2.840.113549.1.9.1=#1603614062")
        );
    }

    #[test]
    fn text_that_is_not_der_is_refused_without_panicking() {
        let der = name(&[&[(CN, 0x0c, b"alice")]]);
        for cut in 0..der.len() {
            assert_eq!(rfc2253(&der[..cut]).is_some(), cut == 0, "{cut}");
        }
        assert_eq!(rfc2253(&[0x31, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
