//! From the runs of each program to the rows of the `init` table.

use crate::stats::{median, percentile};

/// Every run of one program, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub init: Vec<f64>,
    pub first_event: Vec<f64>,
    /// Init plus first event of the same run: what the request that caused the cold start
    /// waited for (besides Lambda's own part).
    pub cold_request: Vec<f64>,
}

/// Median and p90 of one quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub p90: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Option<Self> {
        Some(Self {
            median: median(samples)?,
            p90: percentile(samples, 90.0)?,
        })
    }
}

/// One row: the program, its init, first-event and cold-request medians and p90s, init against
/// the `curl` floor (ours / curl: 1.0 is the floor) and the Python reference against it
/// (Python / ours).
pub fn row(
    label: &str,
    samples: &Samples,
    curl: Option<Spread>,
    python: Option<Spread>,
) -> Vec<String> {
    let init = Spread::of(&samples.init);
    let event = Spread::of(&samples.first_event);
    let cold = Spread::of(&samples.cold_request);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_string(),
    };
    let init_median = init.map(|s| s.median);
    vec![
        label.to_string(),
        ms(init.map(|s| s.median)),
        ms(init.map(|s| s.p90)),
        ms(event.map(|s| s.median)),
        ms(event.map(|s| s.p90)),
        ms(cold.map(|s| s.median)),
        ms(cold.map(|s| s.p90)),
        ratio(init_median, curl.map(|s| s.median)),
        ratio(python.map(|s| s.median), init_median),
    ]
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.1} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_nearest_rank_figures_and_both_ratios() {
        // Init 1..=10 ms: median 5, p90 9. First event 20..=29: median 24, p90 28.
        // Cold request: the sums 21, 23, …, 39 (median 29, p90 37).
        let samples = Samples {
            init: (1..=10).rev().map(f64::from).collect(),
            first_event: (20..=29).map(f64::from).collect(),
            cold_request: (0..10).map(|i| f64::from(21 + 2 * i)).collect(),
        };
        let curl = Spread {
            median: 4.0,
            p90: 6.0,
        };
        let python = Spread {
            median: 250.0,
            p90: 300.0,
        };
        assert_eq!(
            row("send", &samples, Some(curl), Some(python)),
            [
                "send", "5.0 ms", "9.0 ms", "24.0 ms", "28.0 ms", "29.0 ms", "37.0 ms", "1.25×",
                "50.00×"
            ]
        );
    }

    #[test]
    fn missing_figures_are_dashes_not_zeros() {
        let samples = Samples {
            init: vec![3.0],
            first_event: vec![],
            cold_request: vec![],
        };
        assert_eq!(
            row("curl", &samples, None, None),
            ["curl", "3.0 ms", "3.0 ms", "–", "–", "–", "–", "–", "–"]
        );
        assert_eq!(Spread::of(&[]), None);
    }
}
