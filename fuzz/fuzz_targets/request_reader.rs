//! Fuzzes the HTTP request reader: any bytes, split into pieces of any size.
//!
//! Properties checked, beyond "never panics":
//! * the same input fed whole and fed in small pieces gives the same requests, and fails
//!   (or not) the same way: incremental parsing changes nothing but timing;
//! * the reader never holds more than one head's and one body's limit plus one piece.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mio_selectors::http::{Limits, Request, RequestReader};

/// Small limits, so the fuzzer reaches them with short inputs.
const LIMITS: Limits = Limits {
    max_request_line: 64,
    max_head: 256,
    max_headers: 8,
    max_body: 64,
};

/// Feeds `input` in pieces of `piece` bytes, taking requests after each; returns them and
/// whether the reader ended in an error.
fn run(input: &[u8], piece: usize) -> (Vec<Request>, bool) {
    let mut reader = RequestReader::new(LIMITS);
    let mut requests = Vec::new();
    for chunk in input.chunks(piece) {
        reader.feed(chunk);
        loop {
            match reader.next_request() {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(_) => return (requests, true),
            }
        }
        assert!(
            reader.buffered() <= LIMITS.max_head + LIMITS.max_body as usize + piece,
            "buffered {} bytes",
            reader.buffered()
        );
    }
    (requests, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, input.len().max(1));
    let pieces = run(input, usize::from(split % 8) + 1);
    assert_eq!(whole, pieces);
});
