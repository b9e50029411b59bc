//! HTTP request framing: any bytes, fed whole and in pieces, give the same requests and the same
//! error, and the reader's buffer never grows past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::request::{ReadError, Request, RequestReader, MAX_HEAD_BYTES};

const MAX_BODY: usize = 4096;

fn drive(bytes: &[u8], piece: usize) -> (Vec<Request>, Option<ReadError>) {
    let mut reader = RequestReader::new(MAX_BODY);
    let (mut requests, mut at) = (Vec::new(), 0);
    loop {
        match reader.next_request() {
            Ok(Some(request)) => requests.push(request),
            Err(error) => return (requests, Some(error)),
            Ok(None) if at == bytes.len() => return (requests, None),
            Ok(None) => {
                let n = piece.min(reader.room()).min(bytes.len() - at);
                reader.feed(&bytes[at..at + n]);
                at += n;
                assert!(reader.buffered() <= MAX_HEAD_BYTES + 1 + MAX_BODY);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else { return };
    assert_eq!(drive(bytes, usize::from(piece).max(1)), drive(bytes, usize::MAX));
});
