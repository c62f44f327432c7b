//! The v1/v2c requests camwatch sends (GET, GETNEXT, GETBULK), BER-encoded here rather than by
//! snmp2, whose builders are private to its session: the client owns the socket so that it can
//! ignore stray datagrams and accept a late reply to an earlier attempt (see `client.rs`).
//! Replies are still decoded by snmp2 (`Pdu::from_bytes`).

use super::client::Oid;

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OBJECT_IDENTIFIER: u8 = 0x06;
const SEQUENCE: u8 = 0x30;

/// The PDU types camwatch sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Get,
    GetNext,
    /// GETBULK (v2c only) with no non-repeaters.
    GetBulk {
        max_repetitions: u32,
    },
}

impl RequestKind {
    fn tag(self) -> u8 {
        match self {
            Self::Get => 0xa0,
            Self::GetNext => 0xa1,
            Self::GetBulk { .. } => 0xa5,
        }
    }
}

/// The message version field: 0 for v1, 1 for v2c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunityVersion {
    V1 = 0,
    V2c = 1,
}

/// One request message: `SEQUENCE { version, community, PDU { request-id, 0 (or non-repeaters),
/// 0 (or max-repetitions), SEQUENCE OF { OID, NULL } } }`. `None` for an OID BER cannot carry
/// (fewer than two parts, or a first part over 2 or second over 39 under 0 and 1).
pub fn request(
    version: CommunityVersion,
    community: &[u8],
    kind: RequestKind,
    request_id: i32,
    oids: &[Oid],
) -> Option<Vec<u8>> {
    let mut varbinds = Vec::new();
    for oid in oids {
        let mut varbind = Vec::new();
        tlv(OBJECT_IDENTIFIER, &object_identifier(oid)?, &mut varbind);
        tlv(NULL, &[], &mut varbind);
        tlv(SEQUENCE, &varbind, &mut varbinds);
    }
    let (second, third) = match kind {
        RequestKind::GetBulk { max_repetitions } => (0, i64::from(max_repetitions)),
        RequestKind::Get | RequestKind::GetNext => (0, 0),
    };
    let mut pdu = Vec::new();
    tlv(INTEGER, &integer(i64::from(request_id)), &mut pdu);
    tlv(INTEGER, &integer(second), &mut pdu);
    tlv(INTEGER, &integer(third), &mut pdu);
    tlv(SEQUENCE, &varbinds, &mut pdu);
    let mut message = Vec::new();
    tlv(INTEGER, &integer(version as i64), &mut message);
    tlv(OCTET_STRING, community, &mut message);
    tlv(kind.tag(), &pdu, &mut message);
    let mut out = Vec::with_capacity(message.len() + 4);
    tlv(SEQUENCE, &message, &mut out);
    Some(out)
}

fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Two's complement, big-endian, in the fewest bytes.
fn integer(n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

fn object_identifier(oid: &Oid) -> Option<Vec<u8>> {
    let [first, second, rest @ ..] = &oid.0[..] else {
        return None;
    };
    if *first > 2 || (*first < 2 && *second >= 40) {
        return None;
    }
    let mut out = Vec::new();
    for part in std::iter::once(first.checked_mul(40)?.checked_add(*second)?).chain(rest.iter().copied()) {
        let groups = (64 - part.leading_zeros()).div_ceil(7).max(1);
        for i in (0..groups).rev() {
            let seven = ((part >> (7 * i)) & 0x7f) as u8;
            out.push(if i == 0 { seven } else { seven | 0x80 });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request camwatch sends with the community "public".
    fn public(version: CommunityVersion, kind: RequestKind, id: i32, texts: &[&str]) -> Vec<u8> {
        let oids: Vec<Oid> = texts.iter().map(|t| Oid::parse(t).unwrap()).collect();
        request(version, b"public", kind, id, &oids).unwrap()
    }

    fn hex(text: &str) -> Vec<u8> {
        let digits: String = text.split_whitespace().collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    // The expected bytes are net-snmp 5.9's, from `snmpget -d` (and snmpgetnext, snmpbulkget).

    #[test]
    fn get_getnext_and_getbulk_are_what_net_snmp_sends() {
        let cases: [(CommunityVersion, RequestKind, i32, &[&str], &str); 3] = [
            (
                CommunityVersion::V2c,
                RequestKind::Get,
                0x521c_c869,
                &["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0"],
                "30 37 02 01  01 04 06 70  75 62 6C 69  63 A0 2A 02  04 52 1C C8  69 02 01 00
                 02 01 00 30  1C 30 0C 06  08 2B 06 01  02 01 01 01  00 05 00 30  0C 06 08 2B
                 06 01 02 01  01 03 00 05  00",
            ),
            (
                CommunityVersion::V1,
                RequestKind::GetNext,
                0x6786_4653,
                &["1.3.6.1.2.1.25.2"],
                "30 28 02 01  00 04 06 70  75 62 6C 69  63 A1 1B 02  04 67 86 46  53 02 01 00
                 02 01 00 30  0D 30 0B 06  07 2B 06 01  02 01 19 02  05 00",
            ),
            (
                CommunityVersion::V2c,
                RequestKind::GetBulk { max_repetitions: 25 },
                0x1a9f_75fd,
                &["1.3.6.1.2.1.25.2.3.1"],
                "30 2A 02 01  01 04 06 70  75 62 6C 69  63 A5 1D 02  04 1A 9F 75  FD 02 01 00
                 02 01 19 30  0F 30 0D 06  09 2B 06 01  02 01 19 02  03 01 05 00",
            ),
        ];
        for (version, kind, id, oids, expected) in cases {
            assert_eq!(public(version, kind, id, oids), hex(expected), "{version:?} {kind:?}");
        }
    }

    #[test]
    fn long_lengths_and_big_sub_identifiers_are_what_snmpget_sends() {
        let sent = public(
            CommunityVersion::V2c,
            RequestKind::Get,
            0x646e_6636,
            &[
                "1.3.6.1.4.1.318.1.1.1.2.2.1.0",
                "1.3.6.1.4.1.318.1.1.1.2.2.2.0",
                "1.3.6.1.4.1.318.1.1.1.2.2.3.0",
                "1.3.6.1.4.1.318.1.1.1.3.2.1.0",
                "1.3.6.1.4.1.318.1.1.1.4.2.1.0",
                "1.3.6.1.4.1.318.1.1.1.4.2.3.0",
                "1.3.6.1.4.1.318.1.1.1.1.1.1.0",
                "2.999.4294967295",
            ],
        );
        let expected = hex("30 81 B6 02  01 01 04 06  70 75 62 6C  69 63 A0 81
             A8 02 04 64  6E 66 36 02  01 00 02 01  00 30 81 99
             30 12 06 0E  2B 06 01 04  01 82 3E 01  01 01 02 02
             01 00 05 00  30 12 06 0E  2B 06 01 04  01 82 3E 01
             01 01 02 02  02 00 05 00  30 12 06 0E  2B 06 01 04
             01 82 3E 01  01 01 02 02  03 00 05 00  30 12 06 0E
             2B 06 01 04  01 82 3E 01  01 01 03 02  01 00 05 00
             30 12 06 0E  2B 06 01 04  01 82 3E 01  01 01 04 02
             01 00 05 00  30 12 06 0E  2B 06 01 04  01 82 3E 01
             01 01 04 02  03 00 05 00  30 12 06 0E  2B 06 01 04
             01 82 3E 01  01 01 01 01  01 00 05 00  30 0B 06 07
             88 37 8F FF  FF FF 7F 05  00");
        assert_eq!(sent, expected);
    }

    #[test]
    fn integers_take_the_fewest_bytes_and_keep_their_sign() {
        assert_eq!(integer(0), [0x00]);
        assert_eq!(integer(127), [0x7f]);
        assert_eq!(integer(128), [0x00, 0x80]);
        assert_eq!(integer(-1), [0xff]);
        assert_eq!(integer(-129), [0xff, 0x7f]);
        assert_eq!(integer(i64::from(i32::MAX)), [0x7f, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn what_ber_cannot_carry_is_refused() {
        for bad in [vec![1], vec![3, 1], vec![1, 40, 1]] {
            assert_eq!(
                request(CommunityVersion::V2c, b"c", RequestKind::Get, 1, &[Oid(bad.clone())]),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn snmp2_reads_back_what_is_encoded() {
        let oid = Oid::parse("1.3.6.1.2.1.1.3.0").unwrap();
        let sent = request(CommunityVersion::V1, b"c0mm", RequestKind::GetNext, -7, &[oid]).unwrap();
        let pdu = snmp2::Pdu::from_bytes(&sent).unwrap();
        assert_eq!(pdu.req_id, -7);
        assert_eq!(pdu.community, b"c0mm");
        assert_eq!(pdu.message_type, snmp2::MessageType::GetNextRequest);
    }
}
