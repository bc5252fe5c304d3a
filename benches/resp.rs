//! RESP codec micro-benchmarks: request parsing (pipelined GET/SET, one large
//! bulk) and reply encoding.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferrokv_transport::resp::write::encode_command;
use ferrokv_transport::{Limits, Parsed, Protocol, ReplyWriter, RequestParser};
use std::hint::black_box;

const LIMITS: Limits = Limits {
    max_bulk_len: 512 * 1024 * 1024,
    unauthenticated: false,
};

fn pipeline(n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:08}");
        if i % 2 == 0 {
            encode_command(
                &mut buf,
                [&b"SET"[..], key.as_bytes(), b"xxxxxxxxxxxxxxxx"].into_iter(),
            );
        } else {
            encode_command(&mut buf, [&b"GET"[..], key.as_bytes()].into_iter());
        }
    }
    buf
}

fn parse_all(parser: &mut RequestParser, buf: &[u8]) -> usize {
    let (mut pos, mut count) = (0, 0);
    loop {
        match parser.parse(&buf[pos..], &LIMITS) {
            Parsed::Command { consumed, .. } => {
                count += parser.args.len();
                pos += consumed;
            }
            Parsed::Empty { consumed } => pos += consumed,
            _ => return count,
        }
    }
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let buf = pipeline(1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("pipeline_1000_get_set", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(&mut parser, black_box(&buf)))
    });
    let mut inline = Vec::new();
    for i in 0..1000 {
        inline.extend_from_slice(format!("SET key:{i} \"some value\"\r\n").as_bytes());
    }
    group.bench_function("inline_1000_set", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(&mut parser, black_box(&inline)))
    });
    let mut big = Vec::new();
    let value = vec![b'v'; 1 << 20];
    encode_command(&mut big, [&b"SET"[..], b"big", &value].into_iter());
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("one_1mib_bulk", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(&mut parser, black_box(&big)))
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1000));
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        group.bench_function(format!("mixed_1000_{proto:?}"), |b| {
            let mut w = ReplyWriter {
                buf: Vec::with_capacity(64 * 1024),
                proto,
            };
            b.iter(|| {
                w.buf.clear();
                for i in 0..250i64 {
                    w.ok();
                    w.bulk(black_box(b"xxxxxxxxxxxxxxxx"));
                    w.int(black_box(i));
                    w.null();
                }
                w.buf.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
