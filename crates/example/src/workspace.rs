//! The definition files of the example company and of a new empty workspace, embedded in the
//! binary so `tablero init` works anywhere.

use std::path::Path;

use crate::{Result, io_error};

/// The example's definition files, relative to the workspace root.
const EXAMPLE: &[(&str, &str)] = &[
    ("tablero.toml", include_str!("../workspace/tablero.toml")),
    (
        "sources/facturas.yaml",
        include_str!("../workspace/sources/facturas.yaml"),
    ),
    (
        "sources/gastos.yaml",
        include_str!("../workspace/sources/gastos.yaml"),
    ),
    (
        "sources/clientes.yaml",
        include_str!("../workspace/sources/clientes.yaml"),
    ),
    (
        "sources/leads.yaml",
        include_str!("../workspace/sources/leads.yaml"),
    ),
    (
        "sources/oportunidades.yaml",
        include_str!("../workspace/sources/oportunidades.yaml"),
    ),
    (
        "sources/etapas_oportunidad.yaml",
        include_str!("../workspace/sources/etapas_oportunidad.yaml"),
    ),
    (
        "sources/colaboradores.yaml",
        include_str!("../workspace/sources/colaboradores.yaml"),
    ),
    (
        "sources/ausencias.yaml",
        include_str!("../workspace/sources/ausencias.yaml"),
    ),
    (
        "sources/jornada.yaml",
        include_str!("../workspace/sources/jornada.yaml"),
    ),
    (
        "sources/ofertas.yaml",
        include_str!("../workspace/sources/ofertas.yaml"),
    ),
    (
        "sources/postulaciones.yaml",
        include_str!("../workspace/sources/postulaciones.yaml"),
    ),
    (
        "sources/proyectos.yaml",
        include_str!("../workspace/sources/proyectos.yaml"),
    ),
    (
        "sources/tickets.yaml",
        include_str!("../workspace/sources/tickets.yaml"),
    ),
    (
        "sources/encuesta_nps.yaml",
        include_str!("../workspace/sources/encuesta_nps.yaml"),
    ),
    (
        "sources/encuesta_csat.yaml",
        include_str!("../workspace/sources/encuesta_csat.yaml"),
    ),
    (
        "sources/seguidores.yaml",
        include_str!("../workspace/sources/seguidores.yaml"),
    ),
    (
        "sources/mercado.yaml",
        include_str!("../workspace/sources/mercado.yaml"),
    ),
    (
        "kpis/finances.yaml",
        include_str!("../workspace/kpis/finances.yaml"),
    ),
    (
        "kpis/marketing_strategic_growth.yaml",
        include_str!("../workspace/kpis/marketing_strategic_growth.yaml"),
    ),
    (
        "kpis/sales_marketing.yaml",
        include_str!("../workspace/kpis/sales_marketing.yaml"),
    ),
    (
        "kpis/people_growth.yaml",
        include_str!("../workspace/kpis/people_growth.yaml"),
    ),
    (
        "kpis/it_talent_services.yaml",
        include_str!("../workspace/kpis/it_talent_services.yaml"),
    ),
    (
        "kpis/digital_platforms.yaml",
        include_str!("../workspace/kpis/digital_platforms.yaml"),
    ),
    (
        "kpis/customer_service.yaml",
        include_str!("../workspace/kpis/customer_service.yaml"),
    ),
    (
        "dashboards/direccion.yaml",
        include_str!("../workspace/dashboards/direccion.yaml"),
    ),
    (
        "dashboards/finances.yaml",
        include_str!("../workspace/dashboards/finances.yaml"),
    ),
    (
        "dashboards/sales_marketing.yaml",
        include_str!("../workspace/dashboards/sales_marketing.yaml"),
    ),
    (
        "dashboards/marketing_strategic_growth.yaml",
        include_str!("../workspace/dashboards/marketing_strategic_growth.yaml"),
    ),
    (
        "dashboards/people_growth.yaml",
        include_str!("../workspace/dashboards/people_growth.yaml"),
    ),
    (
        "dashboards/it_talent_services.yaml",
        include_str!("../workspace/dashboards/it_talent_services.yaml"),
    ),
    (
        "dashboards/customer_service.yaml",
        include_str!("../workspace/dashboards/customer_service.yaml"),
    ),
    (
        "insights/pedidos_sin_retorno.yaml",
        include_str!("../workspace/insights/pedidos_sin_retorno.yaml"),
    ),
    (
        "insights/espera_y_satisfaccion.yaml",
        include_str!("../workspace/insights/espera_y_satisfaccion.yaml"),
    ),
    (
        "insights/ventas_caen.yaml",
        include_str!("../workspace/insights/ventas_caen.yaml"),
    ),
    (
        "alerts/inusuales.yaml",
        include_str!("../workspace/alerts/inusuales.yaml"),
    ),
];

const EMPTY: &[(&str, &str)] = &[
    (
        "tablero.toml",
        r#"# Tablero workspace settings.
name = "my-company"
locale = "en"            # "es" or "en": dashboard language and number format
timezone = "UTC"         # IANA zone used to place instants in periods, e.g. "America/Santiago"
currency = "USD"
week_start = "monday"    # ISO weeks
fiscal_year_start = 1    # month the fiscal year starts (7 = July; quarters become FY2026-Q1…)
"#,
    ),
    (
        "sources/sales.yaml",
        r#"# A source: a table of facts. Columns are typed; measures aggregate them per period.
name: sales
label: Sales orders
file: data/sales.csv
time: ordered_at               # the column that places a row in a period
columns:
  id:         { type: integer }
  region:     { type: string }
  amount:     { type: number }
  ordered_at: { type: timestamp }
dimensions: [region]           # columns KPIs can be broken down by (--by region)
measures:
  orders:  { agg: count }
  revenue: { agg: sum, expr: amount }
"#,
    ),
    (
        "kpis/revenue.yaml",
        r#"# A KPI: who owns it, how it is computed, and what counts as on track.
id: revenue
name: Revenue
description: Amount of the orders placed in the period.
owner: Sales
kind: lagging
unit: currency
decimals: 0
direction: up
grain: month
formula: sales.revenue
target: 1000
thresholds: { at_risk: "90%" }
"#,
    ),
    (
        "data/sales.csv",
        "id,region,amount,ordered_at\n1,North,400,2026-01-05T10:00:00Z\n2,South,350,2026-01-20T15:30:00Z\n3,North,520,2026-02-03T09:15:00Z\n",
    ),
];

fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        std::fs::write(&path, text).map_err(io_error(&path))?;
    }
    Ok(())
}

/// Writes the example company's definitions (not its data).
pub fn write_example_catalog(dir: &Path) -> Result<()> {
    write_files(dir, EXAMPLE)
}

/// Writes a small valid workspace: settings, one source with a few rows, one KPI.
pub fn write_empty(dir: &Path, force: bool) -> Result<()> {
    crate::ensure_writable(dir, force)?;
    write_files(dir, EMPTY)
}
