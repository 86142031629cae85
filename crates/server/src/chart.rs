//! Charts as server-rendered SVG: a sparkline for cards and a time series against its target
//! with status bands. Presentation attributes only (no inline styles), so the strict CSP holds;
//! every point carries a `<title>` tooltip and the page has the same numbers as a table.

/// One point: label, value, target, status, tooltip text.
pub struct Point {
    pub label: String,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub status: String,
    pub tooltip: String,
    /// Annotations of this period, drawn as a marked flag above the point.
    pub note: Option<String>,
    /// The band the KPI's history expects for this period (lower, upper), drawn as a bar.
    pub band: Option<(f64, f64)>,
    /// The value falls outside its band: drawn with a ring.
    pub anomaly: bool,
    /// The period in progress: a hollow point, off the line of complete periods, with its
    /// pace target and (when enough of it has passed) its projection.
    pub partial: Option<Partial>,
}

/// What the period in progress adds to its point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Partial {
    /// The target prorated to the elapsed share of the period.
    pub pace: Option<f64>,
    /// The value projected to the period's end, when it is worth drawing.
    pub projection: Option<f64>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn bounds(points: &[Point]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let band = |p: &Point| p.band.map(|(l, u)| [Some(l), Some(u)]).unwrap_or_default();
    let partial = |p: &Point| {
        p.partial
            .map(|q| [q.pace, q.projection])
            .unwrap_or_default()
    };
    for v in points
        .iter()
        .flat_map(|p| {
            [p.value, p.target]
                .into_iter()
                .chain(band(p))
                .chain(partial(p))
        })
        .flatten()
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < 1e-12 {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.08;
    (lo - pad, hi + pad)
}

/// A small line of the values, for cards.
pub fn sparkline(values: &[Option<f64>], status: &str) -> String {
    let points: Vec<Point> = values
        .iter()
        .map(|v| Point {
            label: String::new(),
            value: *v,
            target: None,
            status: String::new(),
            tooltip: String::new(),
            note: None,
            band: None,
            anomaly: false,
            partial: None,
        })
        .collect();
    let (lo, hi) = bounds(&points);
    let (w, h) = (120.0, 32.0);
    let n = values.len().max(2) as f64 - 1.0;
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let x = w * i as f64 / n;
            let y = h - 2.0 - (h - 4.0) * (v - lo) / (hi - lo);
            path.push_str(&format!(
                "{}{x:.1},{y:.1} ",
                if path.is_empty() { "M" } else { "L" }
            ));
        }
    }
    format!(
        r#"<svg class="spark spark-{status}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true" focusable="false"><path d="{path}" fill="none" stroke="currentColor" stroke-width="2"/></svg>"#
    )
}

fn status_fill(status: &str) -> &'static str {
    match status {
        "on_track" => "#d9f2e3",
        "at_risk" => "#fdf0cc",
        "off_track" => "#fadcd9",
        _ => "#eef0f3",
    }
}

fn status_stroke(status: &str) -> &'static str {
    match status {
        "on_track" => "#137a3f",
        "at_risk" => "#8a5a00",
        "off_track" => "#b42318",
        _ => "#5b6472",
    }
}

/// The KPI's series against its target, one status band per period.
pub fn series(points: &[Point], title: &str) -> String {
    let (w, h) = (760.0, 280.0);
    let (left, right, top, bottom) = (8.0, 8.0, 12.0, 28.0);
    let (lo, hi) = bounds(points);
    let n = points.len().max(1) as f64;
    let band = (w - left - right) / n;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v - lo) / (hi - lo));
    let x = |i: usize| left + band * (i as f64 + 0.5);
    let mut svg = format!(
        r#"<svg class="series" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for (i, p) in points.iter().enumerate() {
        svg.push_str(&format!(
            r#"<rect x="{:.1}" y="{top}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            left + band * i as f64,
            band,
            h - top - bottom,
            status_fill(&p.status)
        ));
    }
    for (i, p) in points.iter().enumerate() {
        if let Some((lower, upper)) = p.band {
            svg.push_str(&format!(
                r##"<rect class="expected" data-testid="expected-band" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#1f3a93" fill-opacity="0.12"/>"##,
                x(i) - band * 0.2,
                y(upper),
                band * 0.4,
                (y(lower) - y(upper)).max(1.0)
            ));
        }
    }
    let mut target_path = String::new();
    let mut value_path = String::new();
    for (i, p) in points.iter().enumerate() {
        if let Some(t) = p.target {
            target_path.push_str(&format!(
                "{}{:.1},{:.1} ",
                if target_path.is_empty() { "M" } else { "L" },
                x(i),
                y(t)
            ));
        }
        // The line joins complete periods only: the one in progress is not a fall.
        if let Some(v) = p.value.filter(|_| p.partial.is_none()) {
            value_path.push_str(&format!(
                "{}{:.1},{:.1} ",
                if value_path.is_empty() { "M" } else { "L" },
                x(i),
                y(v)
            ));
        }
    }
    if !target_path.is_empty() {
        svg.push_str(&format!(r##"<path d="{target_path}" fill="none" stroke="#5b6472" stroke-width="2" stroke-dasharray="6 4"/>"##));
    }
    svg.push_str(&format!(
        r##"<path d="{value_path}" fill="none" stroke="#1f3a93" stroke-width="2.5"/>"##
    ));
    for (i, p) in points.iter().enumerate() {
        if let (Some(v), Some(q)) = (p.value, p.partial) {
            if let Some(projection) = q.projection {
                let (top_y, bottom_y) = (y(projection.max(v)), y(projection.min(v)));
                svg.push_str(&format!(
                    r##"<rect class="projection" data-testid="projection-band" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.18" stroke="{}" stroke-dasharray="3 3"/>"##,
                    x(i) - band * 0.15,
                    top_y,
                    band * 0.3,
                    (bottom_y - top_y).max(1.0),
                    status_stroke(&p.status),
                    status_stroke(&p.status)
                ));
            }
            if let Some(pace) = q.pace {
                svg.push_str(&format!(
                    r##"<line class="pace" data-testid="pace-mark" x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#5b6472" stroke-width="2.5"/>"##,
                    x(i) - band * 0.25,
                    x(i) + band * 0.25,
                    y(pace),
                    y(pace)
                ));
            }
            svg.push_str(&format!(
                r#"<circle class="partial" data-testid="partial-point" cx="{:.1}" cy="{:.1}" r="5" fill="white" stroke="{}" stroke-width="2.5"><title>{}</title></circle>"#,
                x(i),
                y(v),
                status_stroke(&p.status),
                escape(&p.tooltip)
            ));
        } else if let Some(v) = p.value {
            svg.push_str(&format!(
                r#"<circle cx="{:.1}" cy="{:.1}" r="5" fill="{}" stroke="white" stroke-width="1.5"><title>{}</title></circle>"#,
                x(i),
                y(v),
                status_stroke(&p.status),
                escape(&p.tooltip)
            ));
        }
        if p.anomaly
            && let Some(v) = p.value
        {
            svg.push_str(&format!(
                r##"<circle class="anomaly" data-testid="anomaly" cx="{:.1}" cy="{:.1}" r="10" fill="none" stroke="#b42318" stroke-width="2.5"><title>{}</title></circle>"##,
                x(i),
                y(v),
                escape(&p.tooltip)
            ));
        }
        if let Some(note) = &p.note {
            svg.push_str(&format!(
                r##"<g class="annotation" data-testid="annotation"><line x1="{x:.1}" x2="{x:.1}" y1="4" y2="{:.1}" stroke="#8a5a00" stroke-width="1" stroke-dasharray="2 3"/><text x="{x:.1}" y="14" text-anchor="middle" font-size="13" fill="#8a5a00">✎<title>{}</title></text></g>"##,
                h - 24.0,
                escape(note),
                x = x(i),
            ));
        }
        let every = (points.len() / 8).max(1);
        if i % every == 0 || i + 1 == points.len() {
            svg.push_str(&format!(
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#3b4350">{}</text>"##,
                x(i),
                h - 8.0,
                escape(&p.label)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}
