//! Reading criterion's saved estimates (`target/criterion/<id>/new/`), so `make bench` can put
//! its figures in the same report as the others.

use std::path::Path;

use serde_json::Value;

/// One benchmark's median and its confidence interval, in nanoseconds per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub id: String,
    pub median_ns: f64,
    pub low_ns: f64,
    pub high_ns: f64,
}

/// Every benchmark under `root` with saved `new` estimates.
pub fn read_all(root: &Path) -> Result<Vec<Estimate>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path().join("new");
        let (Ok(benchmark), Ok(estimates)) = (
            std::fs::read_to_string(dir.join("benchmark.json")),
            std::fs::read_to_string(dir.join("estimates.json")),
        ) else {
            continue; // criterion's report folder and other non-benchmark entries
        };
        out.push(parse(&benchmark, &estimates)?);
    }
    if out.is_empty() {
        return Err(format!("no criterion estimates under {}", root.display()));
    }
    Ok(out)
}

/// One benchmark from the text of its `benchmark.json` and `estimates.json`.
pub fn parse(benchmark: &str, estimates: &str) -> Result<Estimate, String> {
    let benchmark: Value =
        serde_json::from_str(benchmark).map_err(|e| format!("benchmark.json: {e}"))?;
    let estimates: Value =
        serde_json::from_str(estimates).map_err(|e| format!("estimates.json: {e}"))?;
    let id = benchmark["full_id"]
        .as_str()
        .ok_or("benchmark.json has no full_id")?
        .to_string();
    let median = &estimates["median"];
    let number = |value: &Value, what: &str| {
        value
            .as_f64()
            .ok_or_else(|| format!("estimates.json: no {what} for {id}"))
    };
    Ok(Estimate {
        median_ns: number(&median["point_estimate"], "median")?,
        low_ns: number(&median["confidence_interval"]["lower_bound"], "lower bound")?,
        high_ns: number(&median["confidence_interval"]["upper_bound"], "upper bound")?,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_median_and_its_interval() {
        let estimate = parse(
            r#"{"group_id":"g","function_id":null,"full_id":"decide_send","directory_name":"d"}"#,
            r#"{"mean":{"point_estimate":9.0},"median":{"point_estimate":12.5,"standard_error":0.1,
                "confidence_interval":{"confidence_level":0.95,"lower_bound":12.0,"upper_bound":13.25}}}"#,
        )
        .expect("parses");
        assert_eq!(
            estimate,
            Estimate {
                id: "decide_send".into(),
                median_ns: 12.5,
                low_ns: 12.0,
                high_ns: 13.25,
            }
        );
    }

    #[test]
    fn a_missing_median_is_an_error() {
        assert!(parse(r#"{"full_id":"x"}"#, r#"{"mean":{}}"#).is_err());
    }
}
