//! The summary block: each target of issue 11, the figure and met / NOT met. Nothing is left out
//! because it missed.

use crate::{settle, verify};

/// Round 2 counts as "as fast as round 1" within this much noise.
const ROUND2_MIN_RATE: f64 = 0.8; // of round 1's settles/s
const ROUND2_MAX_P50: f64 = 1.25; // x round 1's p50 ...
const ROUND2_P50_SLACK_MS: f64 = 5.0; // ... or round 1's p50 + 5 ms, whichever is larger

fn ms(r: &crate::load::Report, p: f64) -> f64 {
    r.pct(p).as_secs_f64() * 1e3
}

pub fn print(v: &verify::Figures, s: &settle::Figures) {
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    let ratio = v.verify_per_sec / v.eth_call_per_sec;
    rows.push((
        "verify >= 0.5 x raw eth_call ceiling".into(),
        format!(
            "{ratio:.2} x ({:.0}/s vs {:.0}/s)",
            v.verify_per_sec, v.eth_call_per_sec
        ),
        ratio >= 0.5,
    ));
    for (name, r) in [("round 1", &s.round1), ("round 2", &s.round2)] {
        rows.push((
            format!("Tollgate {name} >= 300 settles/s"),
            format!("{:.0}/s", r.per_sec()),
            r.per_sec() >= 300.0,
        ));
        rows.push((
            format!("Tollgate {name} p50 < 100 ms"),
            format!("{:.1} ms (p99 {:.1} ms)", ms(r, 0.5), ms(r, 0.99)),
            ms(r, 0.5) < 100.0,
        ));
    }
    let (r1, r2) = (&s.round1, &s.round2);
    let p50_cap = (ms(r1, 0.5) * ROUND2_MAX_P50).max(ms(r1, 0.5) + ROUND2_P50_SLACK_MS);
    rows.push((
        format!(
            "round 2 as fast as round 1 (>= {:.0}% of its rate, p50 <= {p50_cap:.1} ms)",
            ROUND2_MIN_RATE * 100.0
        ),
        format!(
            "{:.0}% of the rate, p50 {:.1} ms",
            100.0 * r2.per_sec() / r1.per_sec(),
            ms(r2, 0.5)
        ),
        r2.per_sec() >= ROUND2_MIN_RATE * r1.per_sec() && ms(r2, 0.5) <= p50_cap,
    ));
    rows.push((
        format!("every settle of both rounds succeeded ({} each)", s.n),
        format!("{} and {} ok", r1.ok, r2.ok),
        r1.ok == s.n && r2.ok == s.n,
    ));
    // Against the SDK configuration that settles the most per second, Tollgate's slower round.
    let best = s
        .sdk
        .iter()
        .filter_map(|(label, r)| r.as_ref().ok().map(|r| (label, r)))
        .max_by(|a, b| a.1.per_sec().total_cmp(&b.1.per_sec()));
    match best {
        Some((label, sdk)) => {
            let slower = r1.per_sec().min(r2.per_sec());
            let x = slower / sdk.per_sec();
            rows.push((
                "Tollgate >= 2 x the official SDK (slower round vs its best)".into(),
                format!(
                    "{x:.2} x ({slower:.0}/s vs {:.0}/s, {label}, p50 {:.1} ms)",
                    sdk.per_sec(),
                    ms(sdk, 0.5),
                ),
                x >= 2.0,
            ));
        }
        None => rows.push((
            "Tollgate >= 2 x the official SDK".into(),
            "the SDK baseline did not run".into(),
            false,
        )),
    }

    println!("\nsummary: targets of issue 11 (settle with the facilitator's defaults)");
    if cfg!(debug_assertions) {
        println!("  (debug build: a smoke run, these are not the real figures)");
    }
    for (target, figure, met) in &rows {
        let mark = if *met { "met" } else { "NOT met" };
        println!("  {mark:<8} {target:<64} {figure}");
    }
    let met = rows.iter().filter(|r| r.2).count();
    println!("  {met} of {} targets met", rows.len());
}
