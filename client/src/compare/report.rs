//! What `compare` found, per transport: one row each, shown as a table, JSON or an SVG chart.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// One transport's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub transport: String,
    pub sent: usize,
    /// Deliveries summed over subscribers (at most `sent` × subscribers).
    pub delivered: u64,
    /// HTTP requests; `None` where the transport is not HTTP.
    pub requests: Option<u64>,
    pub empty: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Delivery delays in microseconds, sorted.
    pub delays_us: Vec<u64>,
    /// The server's CPU time during the run, where this platform can tell.
    pub server_cpu_ms: Option<f64>,
}

impl Row {
    fn per_message(&self, bytes: u64) -> f64 {
        bytes as f64 / self.delivered.max(1) as f64
    }

    /// The `p`-th percentile delay in milliseconds.
    pub fn delay_ms(&self, p: f64) -> Option<f64> {
        if self.delays_us.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * (self.delays_us.len() - 1) as f64).round() as usize;
        Some(self.delays_us[rank] as f64 / 1000.0)
    }

    pub fn json(&self) -> Value {
        json!({
            "transport": self.transport, "sent": self.sent, "delivered": self.delivered,
            "requests": self.requests, "empty": self.empty, "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down, "delay_ms": {"p50": self.delay_ms(50.0), "p95": self.delay_ms(95.0),
            "p99": self.delay_ms(99.0)}, "server_cpu_ms": self.server_cpu_ms,
        })
    }
}

/// The table, as the terminal shows it.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>8} {:>6} {:>9} {:>10} {:>8} {:>8} {:>8} {:>13}",
        "transport",
        "delivered",
        "requests",
        "empty",
        "up B/msg",
        "down B/msg",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "server CPU ms"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for row in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>8} {:>6} {:>9.0} {:>10.0} {:>8} {:>8} {:>8} {:>13}",
            row.transport,
            format!("{}", row.delivered),
            row.requests.map_or("-".into(), |r| r.to_string()),
            row.empty,
            row.per_message(row.bytes_up),
            row.per_message(row.bytes_down),
            ms(row.delay_ms(50.0)),
            ms(row.delay_ms(95.0)),
            ms(row.delay_ms(99.0)),
            row.server_cpu_ms.map_or("n/a".into(), |c| format!("{c:.1}")),
        );
    }
    out
}

/// Two bar charts in one SVG: requests per delivered message, and the median delay.
pub fn svg(rows: &[Row]) -> String {
    let (width, bar, gap, label) = (760.0, 22.0, 8.0, 170.0);
    let chart = |title: &str, y0: f64, values: Vec<(String, f64)>, unit: &str| -> String {
        let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
        let mut s = format!(r#"<text x="0" y="{y0}" font-weight="bold">{title}</text>"#);
        for (i, (name, value)) in values.iter().enumerate() {
            let y = y0 + 12.0 + i as f64 * (bar + gap);
            let w = (width - label - 90.0) * value / max;
            let _ = write!(
                s,
                r##"<text x="0" y="{ty}">{name}</text><rect x="{label}" y="{y}" width="{w:.1}" height="{bar}" fill="#4a7bd0"/><text x="{tx:.1}" y="{ty}">{value:.2} {unit}</text>"##,
                ty = y + bar * 0.7,
                tx = label + w + 6.0
            );
        }
        s
    };
    let n = rows.len() as f64;
    let per = |r: &Row| r.requests.map_or(0.0, |q| q as f64 / r.delivered.max(1) as f64);
    let first = chart(
        "HTTP requests per delivered message",
        20.0,
        rows.iter().map(|r| (r.transport.clone(), per(r))).collect(),
        "",
    );
    let y1 = 20.0 + 30.0 + n * (bar + gap);
    let second = chart(
        "median delivery delay",
        y1,
        rows.iter().map(|r| (r.transport.clone(), r.delay_ms(50.0).unwrap_or(0.0))).collect(),
        "ms",
    );
    let height = y1 + 30.0 + n * (bar + gap);
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">{first}{second}</svg>
"#
    )
}

/// Writes `text` to `path`.
pub fn save(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
