//! Measuring predictors on blocks: per block and in aggregate, with the JSON `parevm predict`
//! writes.

use super::{Predictor, Score, score, truth};
use crate::{block::Block, error::ExecError, state::StateView, strategy::Workers};
use serde_json::{Value, json};

/// One predictor's score on one target (a block, or all of them).
#[derive(Debug, Clone)]
pub struct Row {
    /// The block or workload, or `all` for the aggregate.
    pub target: String,
    /// The predictor's name.
    pub hints: String,
    /// Its score.
    pub score: Score,
}

impl Row {
    /// The row as JSON (the fields `parevm predict --json` writes).
    pub fn to_json(&self) -> Value {
        let s = &self.score;
        let r = |x: f64| (x * 10_000.0).round() / 10_000.0;
        json!({
            "target": self.target,
            "hints": self.hints,
            "txs": s.txs,
            "read_precision": r(s.read_precision()),
            "read_recall": r(s.read_recall()),
            "write_precision": r(s.write_precision()),
            "write_recall": r(s.write_recall()),
            "exact_share": r(s.exact_share()),
            "partial_share": r(s.partial_share()),
            "us_per_tx": r(s.us_per_tx()),
            "exec_us_per_tx": r(s.exec_us_per_tx()),
        })
    }
}

/// Every predictor in `predictors` scored on `block` (named `target`); a predictor with
/// nothing for the block (`bal` without a list) gives no row.
pub fn measure(
    target: &str,
    block: &Block,
    state: &dyn StateView,
    predictors: &[&dyn Predictor],
    workers: &Workers,
) -> Result<Vec<Row>, ExecError> {
    let (actual, execute_us) = truth(block, state)?;
    let mut rows = Vec::new();
    for p in predictors {
        if let Some(s) = score(*p, block, state, &actual, execute_us, workers)? {
            rows.push(Row {
                target: target.to_string(),
                hints: p.name().to_string(),
                score: s,
            });
        }
    }
    Ok(rows)
}

/// One `all` row per predictor, summing `rows` (in the order the predictors first appear).
pub fn aggregate(rows: &[Row]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for row in rows {
        match out.iter_mut().find(|r| r.hints == row.hints) {
            Some(r) => r.score.add(&row.score),
            None => out.push(Row {
                target: "all".into(),
                ..row.clone()
            }),
        }
    }
    out
}

/// The JSON document of `rows`.
pub fn to_json(rows: &[Row]) -> Value {
    json!({ "results": rows.iter().map(Row::to_json).collect::<Vec<_>>() })
}

/// `rows` as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<22} {:<12} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>9} {:>9}\n",
        "target",
        "hints",
        "txs",
        "read P",
        "read R",
        "write P",
        "write R",
        "exact",
        "partial",
        "us/tx",
        "exec us/tx"
    );
    for row in rows {
        let s = &row.score;
        out += &format!(
            "{:<22} {:<12} {:>6} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>6.2} {:>7.2} {:>9.2} {:>9.2}\n",
            row.target,
            row.hints,
            s.txs,
            s.read_precision(),
            s.read_recall(),
            s.write_precision(),
            s.write_recall(),
            s.exact_share(),
            s.partial_share(),
            s.us_per_tx(),
            s.exec_us_per_tx()
        );
    }
    out
}
