//! Vendor sample payloads, read and parsed once per process and shared by
//! the vendor fakes (each includes this file as a module of its own):
//! seeding 100,000 users must not read and parse a file 100,000 times.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

/// The JSON at `path`, parsed on first use, a copy each call.
pub fn parsed(path: &str) -> Value {
    static CACHE: Mutex<BTreeMap<String, Value>> = Mutex::new(BTreeMap::new());
    CACHE
        .lock()
        .unwrap()
        .entry(path.to_string())
        .or_insert_with(|| {
            let text = std::fs::read_to_string(path).unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .clone()
}
