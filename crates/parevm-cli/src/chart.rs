//! The SVG chart of `parevm bench`: speedup over sequential per workload, one bar per
//! (strategy, threads), with the break-even line at 1.0.

use parevm::report::Row;
use plotters::prelude::*;
use std::path::Path;

pub(crate) fn speedup_chart(path: &Path, rows: &[Row]) -> Result<(), String> {
    let mut targets: Vec<&str> = Vec::new();
    let mut series: Vec<(String, usize)> = Vec::new();
    let rows: Vec<&Row> = rows.iter().filter(|r| r.strategy != "sequential").collect();
    for r in &rows {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
        if !series
            .iter()
            .any(|(s, t)| *s == r.strategy && *t == r.threads)
        {
            series.push((r.strategy.clone(), r.threads));
        }
    }
    if targets.is_empty() {
        return Err("no parallel strategy was measured".into());
    }
    let max = rows.iter().map(|r| r.speedup).fold(1.0f64, f64::max) * 1.15;
    let width = (160 + targets.len() * 110).max(640) as u32;
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "parevm: speedup over sequential (same run, medians)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(70)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..targets.len() as f64, 0f64..max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(targets.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                targets.get(i).copied().unwrap_or("").to_string()
            } else {
                String::new()
            }
        })
        .y_desc("speedup (x)")
        .draw()
        .map_err(e)?;
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    let bar = 0.8 / series.len() as f64;
    for (k, (strategy, threads)) in series.iter().enumerate() {
        let color = palette[k % palette.len()];
        let bars = rows
            .iter()
            .filter(|r| r.strategy == *strategy && r.threads == *threads)
            .filter_map(|r| {
                let i = targets.iter().position(|t| *t == r.target)? as f64;
                let x0 = i + 0.1 + k as f64 * bar;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + bar * 0.9, r.speedup)],
                    color.filled(),
                ))
            });
        chart
            .draw_series(bars)
            .map_err(e)?
            .label(format!("{strategy} x{threads}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (targets.len() as f64, 1.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// The SVG chart of a profile: each strategy's projected speedup against workers (both axes
/// logarithmic), with the parallelism bound over all blocks as a dashed line.
pub(crate) fn projection_chart(doc: &parevm::profile::doc::ProfileDoc) -> Result<String, String> {
    let n = doc
        .projections
        .values()
        .map(Vec::len)
        .max()
        .unwrap_or(1)
        .max(2);
    let bound = doc.bound();
    let top = doc
        .projections
        .values()
        .flatten()
        .copied()
        .fold(bound, f64::max)
        .max(2.0)
        * 1.3;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "parevm: projected speedup over sequential by workers",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((1f64..n as f64).log_scale(), (0.05f64..top).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("speedup (x)")
            .draw()
            .map_err(e)?;
        let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        for (k, (name, curve)) in doc.projections.iter().enumerate() {
            let color = palette[k % palette.len()].stroke_width(if k < 6 { 2 } else { 1 });
            let points = curve
                .iter()
                .enumerate()
                .map(|(i, s)| ((i + 1) as f64, s.max(0.05)));
            chart
                .draw_series(LineSeries::new(points, color))
                .map_err(e)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        let dashes = (0..40).map(|i| {
            let x = |k: usize| (n as f64).powf(k as f64 / 40.0);
            PathElement::new(vec![(x(i), bound), (x(i) * 1.04, bound)], BLACK)
        });
        chart
            .draw_series(dashes.step_by(2))
            .map_err(e)?
            .label(format!("parallelism bound {bound:.1}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}
