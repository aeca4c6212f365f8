//! Fuzzes the proxy's parsers: what a client or an upstream sends, as any bytes.
//!
//! Properties checked, beyond "never panics":
//! * `head_end` finds the same end whether the bytes come whole or in pieces (the proxy
//!   searches only what it has not searched before);
//! * the chunked decoder gives the same body, and the same verdict, fed whole or in pieces;
//! * a request head that parses has a target that either parses or is refused with 400/501,
//!   and a response head that parses has a framing or a 502.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mio_selectors::http::Limits;
use mio_selectors::proxy::{head_end, parse_request, parse_response, ChunkedDecoder, Target};

fn head_end_in_pieces(input: &[u8], piece: usize) -> Option<usize> {
    let mut scanned = 0;
    for end in (piece..input.len() + piece).step_by(piece) {
        let end = end.min(input.len());
        if let Some(found) = head_end(&input[..end], scanned) {
            return Some(found);
        }
        scanned = end;
    }
    None
}

fn decode(input: &[u8], piece: usize) -> (Vec<u8>, Result<bool, ()>) {
    let mut decoder = ChunkedDecoder::default();
    let mut out = Vec::new();
    let mut verdict = Ok(false);
    for chunk in input.chunks(piece) {
        match decoder.feed(chunk, &mut out) {
            Ok(true) => return (out, Ok(true)),
            Ok(false) => verdict = Ok(false),
            Err(_) => return (out, Err(())),
        }
    }
    (out, verdict)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first % 8) + 1;

    assert_eq!(head_end(input, 0), head_end_in_pieces(input, piece));
    assert_eq!(decode(input, input.len().max(1)), decode(input, piece));

    if let Some(end) = head_end(input, 0) {
        if let Ok(head) = parse_request(&input[..end], &Limits::default()) {
            if let Err(err) = Target::parse(&head.target) {
                assert!(matches!(err.status.code(), 400 | 501));
            }
        }
        if let Ok(head) = parse_response(&input[..end]) {
            if let Err(err) = head.framing(false) {
                assert_eq!(err.status.code(), 502);
            }
        }
    }
});
