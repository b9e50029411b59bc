//! `cargo client compare` on a small run: the counts (never the times) must add up.

use client::compare::{self, Options};

#[test]
fn a_small_comparison_counts_every_delivery_and_request() {
    let options = Options { addrs: None, subscribers: 2, messages: 3, rate: 50.0, intervals: vec![0.05] };
    let rows = compare::run(&options, &mut std::io::sink()).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(names, ["polling every 0.05 s", "long polling", "SSE streaming", "WebSocket", "raw TCP"]);
    for row in &rows {
        assert_eq!(row.delivered, 6, "{}: every message reaches every subscriber once", row.transport);
        assert_eq!(row.delays_us.len(), 6, "{}: one delay per delivery", row.transport);
        assert!(row.bytes_down > 0 && row.bytes_up > 0, "{}: bytes were counted", row.transport);
        assert!(row.empty <= row.requests.unwrap_or(0), "{}", row.transport);
    }
    let requests = |name: &str| rows.iter().find(|r| r.transport == name).unwrap().requests;
    // One request per subscriber for the long-lived transports; none for raw TCP.
    assert_eq!(requests("SSE streaming"), Some(2));
    assert_eq!(requests("WebSocket"), Some(2));
    assert_eq!(requests("raw TCP"), None);
    // Long polling: at least one answered request per subscriber, at most one per message plus
    // the first and the one still waiting at the end.
    let long = requests("long polling").unwrap();
    assert!((2..=2 * (3 + 2)).contains(&long), "{long} long-poll requests");
    // Polling asks on its own schedule; some of its answers carry nothing.
    assert!(requests("polling every 0.05 s").unwrap() >= 2);

    let table = compare::table(&rows);
    assert_eq!(table.lines().count(), rows.len() + 1);
    let svg = compare::svg(&rows);
    assert!(svg.starts_with("<svg") && names.iter().all(|n| svg.contains(n)));
    assert_eq!(rows[3].json()["delivered"], 6);
}
