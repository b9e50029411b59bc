//! Query strings: any target decodes or is refused, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::query::{percent_decode, query};

fuzz_target!(|target: &str| {
    let _ = query(target, "room");
    if let Some(decoded) = percent_decode(target) {
        assert!(decoded.len() <= target.len());
    }
    assert_eq!(percent_decode(&common::percent::encode(target)).as_deref(), Some(target));
});
