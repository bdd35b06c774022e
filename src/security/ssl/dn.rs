//! The subject of an X.509 certificate as Java's `X500Principal.getName()` prints it (RFC 2253),
//! which is the string Kafka's `ssl.principal.mapping.rules` are applied to.
//!
//! Why our own DER walk: the subject is the sixth field of the certificate's `tbsCertificate`,
//! a few nested TLVs away; a full X.509 crate would be a large dependency for that. Every
//! length is checked against what is left, so a malformed certificate is `None`, never a panic
//! (rustls has verified the chain before this runs, so in practice the DER is well formed).
//!
//! Java's rules, kept exactly: relative distinguished names in reverse order joined by `,`, the
//! values of a multi-valued one by `+`; the keywords CN, C, L, ST, O, OU, STREET, DC and UID,
//! any other attribute as its dotted OID with the value as `#` + the hex of its DER; a string
//! value escapes `,=+<>#;"\` with a backslash, NUL as `\00`, and leading/trailing spaces.

/// One DER TLV: its tag, its content, and the whole encoding (tag and length included).
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// Reads one TLV from the front of `input`, returning it and the rest.
fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let tlv = Tlv {
        tag,
        content: &rest[..len],
        whole: &input[..header + len],
    };
    Some((tlv, &rest[len..]))
}

/// The TLVs of a constructed value's content, in order; `None` if any is malformed.
fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (t, rest) = tlv(content)?;
        out.push(t);
        content = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The subject DN of a DER certificate in RFC 2253 form (see the module doc).
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    let (cert, _) = tlv(cert_der)?;
    let (tbs, _) = tlv(cert.content)?;
    if cert.tag != SEQUENCE || tbs.tag != SEQUENCE {
        return None;
    }
    let fields = children(tbs.content)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.tag == 0xa0);
    let subject = fields.get(skip + 4)?;
    (subject.tag == SEQUENCE).then_some(())?;
    name_rfc2253(subject.content)
}

/// An X.501 `Name`'s content (a sequence of RDN sets) in RFC 2253 form.
fn name_rfc2253(content: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    for rdn in children(content)? {
        (rdn.tag == SET).then_some(())?;
        let mut avas = Vec::new();
        for ava in children(rdn.content)? {
            (ava.tag == SEQUENCE).then_some(())?;
            let parts = children(ava.content)?;
            let [oid, value] = &parts[..] else {
                return None;
            };
            (oid.tag == OID).then_some(())?;
            avas.push(ava_rfc2253(&oid_text(oid.content)?, value));
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// Java's RFC 2253 keywords by OID.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn ava_rfc2253(oid: &str, value: &Tlv<'_>) -> String {
    match (keyword(oid), der_string(value)) {
        (Some(k), Some(s)) => format!("{k}={}", escape(&s)),
        (k, _) => {
            let hex: String = value.whole.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", k.unwrap_or(oid))
        }
    }
}

/// A DER string value Java's `isDerString` accepts, decoded.
fn der_string(v: &Tlv<'_>) -> Option<String> {
    match v.tag {
        // UTF8String
        0x0c => std::str::from_utf8(v.content).ok().map(str::to_string),
        // PrintableString, T61String, IA5String, GeneralString: one byte a character.
        0x13 | 0x14 | 0x16 | 0x1b => Some(v.content.iter().map(|b| *b as char).collect()),
        // BMPString: UTF-16BE.
        0x1e if v.content.len().is_multiple_of(2) => {
            let units: Vec<u16> = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Java's `AVA.toRFC2253String` escaping (see the module doc).
fn escape(value: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let chars: Vec<char> = value.chars().collect();
    let lead = chars
        .iter()
        .position(|c| *c != ' ' && *c != '\r')
        .unwrap_or(chars.len());
    let trail = chars
        .iter()
        .rposition(|c| *c != ' ' && *c != '\r')
        .unwrap_or(0);
    let mut out = String::with_capacity(value.len());
    for (i, c) in chars.iter().enumerate() {
        if ESCAPEES.contains(*c) || ((i < lead || i > trail) && (*c == ' ' || *c == '\r')) {
            out.push('\\');
            out.push(*c);
        } else if *c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(*c);
        }
    }
    out
}

/// A DER OID's content in dotted form.
fn oid_text(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, b) in content.iter().enumerate() {
        if acc > (u64::MAX >> 7) {
            return None;
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == content.len() {
            return None;
        }
    }
    (!arcs.is_empty()).then(|| {
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_java_does() {
        assert_eq!(escape("Tkac, Adam"), "Tkac\\, Adam");
        assert_eq!(escape(" a=b#c "), "\\ a\\=b\\#c\\ ");
        assert_eq!(escape("x\0"), "x\\00");
    }

    #[test]
    fn decodes_oids() {
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).as_deref(),
            Some("1.2.840.113549.1.9.1")
        );
        assert_eq!(oid_text(&[0x86]), None);
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subject_rfc2253(&[]), None);
        assert_eq!(subject_rfc2253(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject_rfc2253(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
