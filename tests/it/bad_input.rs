//! Hostile and malformed input: each gets a closed connection or a Kafka error code, nothing
//! is appended, and the broker keeps serving everyone else. Also: KIP-511 ApiVersions,
//! Produce v0–2, acks=0 and pipelined requests answered in order.

use crate::support::raw;
use crate::support::{encode_batch, now_ms, RawClient, TestBroker};
use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ResponseHeader,
};
use kafka_protocol::protocol::Decodable;

fn still_serving(addr: &str) {
    let mut c = RawClient::connect(addr);
    let r = c.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(r.error_code, 0);
    assert!(!r.api_keys.is_empty());
}

/// A frame with the given header fields and body, size computed.
fn frame(api_key: i16, version: i16, correlation: i32, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(correlation);
    b.put_i16(4);
    b.put_slice(b"test");
    b.put_slice(body);
    let mut out = (b.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&b);
    out
}

#[test]
fn bad_frame_sizes_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let addr = broker.bootstrap();
    for size in [i32::MAX, -1, i32::MIN, 0, 4, 104_857_601] {
        let mut c = RawClient::connect(&addr);
        c.send_raw(&size.to_be_bytes());
        assert!(c.is_closed(), "size {size} must close the connection");
    }
    // A truncated frame followed by the client going away.
    let mut c = RawClient::connect(&addr);
    c.send_raw(&100i32.to_be_bytes());
    c.send_raw(&[0, 3, 0, 1, 0, 0]);
    drop(c);
    still_serving(&addr);
}

#[test]
fn unknown_apis_and_undecodable_bodies_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let addr = broker.bootstrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown api key", frame(9999, 0, 1, &[])),
        ("api key not served", frame(57, 0, 1, &[])),
        ("unsupported version", frame(3, 99, 1, &[])),
        // Metadata v4 declaring i32::MAX topics in a 21-byte request: must not allocate.
        (
            "i32::MAX array count",
            frame(3, 4, 1, &[0x7f, 0xff, 0xff, 0xff, 1]),
        ),
        (
            "string longer than the frame",
            frame(3, 4, 1, &[0, 0, 0, 1, 0x7f, 0xff]),
        ),
        ("truncated body", frame(0, 9, 1, &[0xff, 0xff, 0, 1])),
        (
            "truncated header",
            vec![0, 0, 0, 9, 0, 3, 0, 4, 0, 0, 0, 1, 0],
        ),
    ];
    for (what, bytes) in cases {
        let mut c = RawClient::connect(&addr);
        c.send_raw(&bytes);
        assert!(c.is_closed(), "{what}: connection closed");
        still_serving(&addr);
    }
    // Every served API, at its lowest and highest version, with bodies whose fields read as
    // huge counts and lengths (i32::MAX, and huge unsigned varints for flexible versions) at
    // every alignment. Whether each is refused or answered, the broker never allocates for the
    // lie (the process would abort) and keeps serving.
    let huge_i32: Vec<u8> = [0x7f, 0xff, 0xff, 0xff].repeat(16);
    let huge_varint: Vec<u8> = [0xff, 0xff, 0xff, 0xff, 0x07].repeat(12);
    let mixed: Vec<u8> = (0..64)
        .map(|i| if i % 3 == 0 { 0x7f } else { 0xff })
        .collect();
    for api in gregor::router::APIS {
        for version in [api.min, api.max] {
            for body in [&huge_i32, &huge_varint, &mixed] {
                for shift in 0..4 {
                    let mut c = RawClient::connect(&addr);
                    c.send_raw(&frame(api.key as i16, version, 1, &body[shift..]));
                }
            }
            still_serving(&addr);
        }
    }
}

#[test]
fn corrupt_batches_are_refused_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "crc", 1, &[]), 0);
    let good = encode_batch(&[(Some("k"), "v"), (None, "w")], None, now_ms());
    assert_eq!(raw::produce(&mut c, "crc", 0, good.clone()).base_offset, 0);

    let mut bad_crc = good.to_vec();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    let mut bad_magic = good.to_vec();
    bad_magic[16] = 1;
    let mut lying_length = good.to_vec();
    lying_length[8..12].copy_from_slice(&1_000_000i32.to_be_bytes());
    let mut lying_count = good.to_vec();
    lying_count[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut two = good.to_vec();
    two.extend_from_slice(&good);
    let cases: Vec<(&str, Vec<u8>, &[i16])> = vec![
        ("bad CRC", bad_crc, &[2]),
        ("wrong magic", bad_magic, &[87, 2]),
        ("lying batchLength", lying_length, &[2]),
        ("lying record count", lying_count, &[2, 87]),
        ("half a batch", good[..30].to_vec(), &[2]),
        ("two batches", two, &[87]),
        ("empty", Vec::new(), &[2]),
    ];
    for (what, bytes, codes) in cases {
        let r = raw::produce(&mut c, "crc", 0, bytes.into());
        assert!(
            codes.contains(&r.error_code),
            "{what}: got error {}",
            r.error_code
        );
        assert_eq!(r.base_offset, -1);
    }
    assert_eq!(
        raw::list_offset(&mut c, "crc", 0, -1),
        (0, 2),
        "nothing appended"
    );
    let big = "x".repeat(1_100_000);
    let r = raw::produce(
        &mut c,
        "crc",
        0,
        encode_batch(&[(None, &big)], None, now_ms()),
    );
    assert_eq!(r.error_code, 10, "MESSAGE_TOO_LARGE");
    let ok = "y".repeat(900 * 1024);
    assert_eq!(
        raw::produce(
            &mut c,
            "crc",
            0,
            encode_batch(&[(None, &ok)], None, now_ms())
        )
        .base_offset,
        2
    );
    assert_eq!(
        raw::produce(&mut c, "nope-not-here", 7, good).error_code,
        3,
        "unknown partition of an auto-created topic"
    );
}

#[test]
fn api_versions_of_an_unknown_version_gets_kip511_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    c.send_raw(&frame(18, 9, 77, &[0, 0, 0]));
    let mut resp = c.read_frame().expect("a response");
    let header = ResponseHeader::decode(&mut resp, 0).unwrap();
    assert_eq!(header.correlation_id, 77);
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35);
    let produce = body
        .api_keys
        .iter()
        .find(|k| k.api_key == 0)
        .expect("Produce listed");
    assert_eq!((produce.min_version, produce.max_version), (0, 13));
    assert!(body
        .api_keys
        .iter()
        .any(|k| k.api_key == 18 && k.max_version == 4));
}

#[test]
fn produce_v0_to_v2_get_unsupported_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    for version in 0..=2i16 {
        let mut body = BytesMut::new();
        body.put_i16(1); // acks
        body.put_i32(1000);
        body.put_i32(1);
        body.put_i16(1);
        body.put_slice(b"t");
        body.put_i32(1);
        body.put_i32(0);
        body.put_i32(0); // empty message set
        c.send_raw(&frame(0, version, 5, &body));
        let mut r = c.read_frame().expect("answered");
        assert_eq!(r.get_i32(), 5);
        assert_eq!(r.get_i32(), 1);
        r.advance(2 + 1);
        assert_eq!(r.get_i32(), 1);
        assert_eq!(r.get_i32(), 0);
        assert_eq!(r.get_i16(), 35, "v{version}: UNSUPPORTED_VERSION");
    }
    assert_eq!(
        raw::list_offset(&mut c, "t", 0, -1).0,
        3,
        "nothing created or appended"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order_and_acks0_gets_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "pipe", 1, &[]), 0);
    let mut all = Vec::new();
    all.extend(c.frame(&MetadataRequest::default().with_topics(None), 12));
    all.extend(c.frame(
        &raw::produce_request(
            "pipe",
            0,
            encode_batch(&[(None, "silent")], None, now_ms()),
            0,
        ),
        9,
    ));
    all.extend(c.frame(&ApiVersionsRequest::default(), 3));
    all.extend(c.frame(
        &raw::produce_request(
            "pipe",
            0,
            encode_batch(&[(None, "loud")], None, now_ms()),
            1,
        ),
        9,
    ));
    c.send_raw(&all);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut f = c.read_frame().expect("response");
        ids.push(f.get_i32());
    }
    let first = ids[0];
    assert_eq!(
        ids,
        vec![first, first + 2, first + 3],
        "in order, none for acks=0"
    );
    assert_eq!(
        raw::list_offset(&mut c, "pipe", 0, -1),
        (0, 2),
        "the acks=0 record was appended"
    );
}

#[test]
fn connections_past_the_limit_are_refused_and_idle_ones_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(
        dir.path(),
        &[("max.connections", "2"), ("connections.max.idle.ms", "300")],
    );
    let addr = broker.bootstrap();
    let mut a = RawClient::connect(&addr);
    let mut b = RawClient::connect(&addr);
    assert_eq!(a.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert_eq!(b.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    let mut third = RawClient::connect(&addr);
    assert!(third.is_closed(), "a third connection is refused");
    drop(third);
    // Existing connections are unharmed, until they idle past connections.max.idle.ms.
    assert_eq!(a.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert!(b.is_closed(), "an idle connection is closed");
    assert!(a.is_closed());
    // Their slots are free again (once the broker has finished closing them).
    crate::support::wait_for(
        "a free connection slot",
        std::time::Duration::from_secs(10),
        || {
            let mut d = RawClient::connect(&addr);
            let f = d.frame(&ApiVersionsRequest::default(), 3);
            d.send_raw(&f);
            d.read_frame()
        },
    );
}

#[test]
fn timestamps_outside_the_configured_window_get_invalid_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    let window = [
        ("message.timestamp.before.max.ms", "60000"),
        ("message.timestamp.after.max.ms", "60000"),
    ];
    assert_eq!(raw::create_topic(&mut c, "clock", 1, &window), 0);
    let hour = 3_600_000;
    for ts in [now_ms() - hour, now_ms() + hour] {
        let r = raw::produce(
            &mut c,
            "clock",
            0,
            encode_batch(&[(None, "late or early")], None, ts),
        );
        assert_eq!((r.error_code, r.base_offset), (32, -1), "INVALID_TIMESTAMP");
    }
    assert_eq!(
        raw::list_offset(&mut c, "clock", 0, -1),
        (0, 0),
        "nothing appended"
    );
    assert_eq!(
        raw::produce(
            &mut c,
            "clock",
            0,
            encode_batch(&[(None, "on time")], None, now_ms())
        )
        .base_offset,
        0
    );
    // The default window (Kafka's) accepts any timestamp.
    assert_eq!(raw::create_topic(&mut c, "any-clock", 1, &[]), 0);
    assert_eq!(
        raw::produce(
            &mut c,
            "any-clock",
            0,
            encode_batch(&[(None, "old")], None, 1)
        )
        .error_code,
        0
    );
}

#[test]
fn a_length_then_silence_is_closed_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[("connections.max.idle.ms", "300")]);
    let mut c = RawClient::connect(&broker.bootstrap());
    // A frame announced as 100 bytes; 6 arrive, then nothing.
    c.send_raw(&100i32.to_be_bytes());
    c.send_raw(&[0, 3, 0, 4, 0, 0]);
    assert!(c.is_closed(), "closed after connections.max.idle.ms");
    still_serving(&broker.bootstrap());
}

#[test]
fn trailing_garbage_after_a_request_does_not_break_framing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    // A valid Metadata v4 body (null topics, auto-create false) plus 100 bytes of garbage
    // inside the same frame, then a normal request on the same connection.
    let mut body = vec![0xff, 0xff, 0xff, 0xff, 0];
    body.extend_from_slice(&[0x5a; 100]);
    c.send_raw(&frame(3, 4, 41, &body));
    let mut r = c.read_frame().expect("answered");
    assert_eq!(r.get_i32(), 41);
    let next = c.call(&ApiVersionsRequest::default(), 3);
    assert_eq!(next.error_code, 0, "the next frame is read where it starts");
}

/// A batch whose records section is `compressed` with `codec` (record count 1), CRC set.
fn compressed_batch(codec: i16, compressed: &[u8]) -> Vec<u8> {
    use gregor::log::batch::{compute_crc, HEADER_LEN, LOG_OVERHEAD};
    let mut b = vec![0u8; HEADER_LEN];
    b.extend_from_slice(compressed);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[16] = 2;
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[27..35].copy_from_slice(&now_ms().to_be_bytes());
    b[35..43].copy_from_slice(&now_ms().to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&1i32.to_be_bytes());
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn compressed_batches_that_inflate_past_the_limit_are_refused() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "bombs", 1, &[]), 0);
    let zeros = vec![0u8; 64 << 20];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&zeros).unwrap();
    let gzip_bomb = gz.finish().unwrap();
    let zstd_bomb = zstd::encode_all(&zeros[..], 19).unwrap();
    let snappy_liar = vec![0x80, 0x80, 0x80, 0x80, 0x08, 0]; // claims 2 GiB
    for (codec, payload, want) in [
        (1i16, &gzip_bomb, 87i16),
        (4, &zstd_bomb, 87),
        (2, &snappy_liar, 87),
        (1, &b"not gzip at all".to_vec(), 2),
    ] {
        assert!(payload.len() < 1 << 20, "the bomb itself is small");
        let r = raw::produce(&mut c, "bombs", 0, compressed_batch(codec, payload).into());
        assert_eq!((r.error_code, r.base_offset), (want, -1), "codec {codec}");
    }
    assert_eq!(
        raw::list_offset(&mut c, "bombs", 0, -1),
        (0, 0),
        "nothing appended"
    );
}
