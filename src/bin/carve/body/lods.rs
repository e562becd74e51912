//! `carve body lods`: vertex and triangle counts of each LOD of a rig, beside MHR's official
//! counts, and whether each is a closed manifold.

use std::fmt::Write as _;
use std::path::PathBuf;

use carve::body::{self, lod};
use serde::Serialize;

use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct LodsArgs {
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// What `carve body lods --json` prints.
#[derive(Serialize)]
struct LodsSummary<'a> {
    rig: &'a str,
    lods: Vec<LodRow>,
}

#[derive(Serialize)]
struct LodRow {
    lod: usize,
    vertices: usize,
    triangles: usize,
    official_vertices: Option<usize>,
    official_triangles: Option<usize>,
    /// A closed manifold of genus 0 (Euler characteristic 2).
    watertight: bool,
}

pub fn run(a: &LodsArgs) -> anyhow::Result<()> {
    let rig = body::load_rig(a.rig.as_deref())?;
    let mut lods = Vec::new();
    for l in rig.available_lods() {
        let data = rig.at_lod(l)?;
        let report = lod::check_closed_manifold(&data.triangles, data.vertex_count());
        lods.push(LodRow {
            lod: l,
            vertices: data.vertex_count(),
            triangles: data.triangles.len(),
            official_vertices: lod::LOD_VERTEX_COUNTS.get(l).copied(),
            official_triangles: lod::LOD_TRIANGLE_COUNTS.get(l).copied(),
            watertight: report.as_ref().is_ok_and(|r| r.euler_characteristic == 2),
        });
    }
    let summary = LodsSummary { rig: &rig.name, lods };
    output::finish(a.json, &summary, |s| Text::Stdout(table(s)))
}

/// The human-readable table. Its cells are written without padding (the column widths of the
/// header are not applied): that is how this table has always printed, and scripts may read it.
fn table(s: &LodsSummary) -> String {
    let or_null = |v: Option<usize>| v.map_or_else(|| "null".to_owned(), |v| v.to_string());
    let mut text = format!("{}\nLOD  vertices  triangles  (official)        watertight\n", s.rig);
    for r in &s.lods {
        // Writing into a String cannot fail.
        let _ = writeln!(
            text,
            "{}  {}  {}  ({} / {})  {}",
            r.lod,
            r.vertices,
            r.triangles,
            or_null(r.official_vertices),
            or_null(r.official_triangles),
            r.watertight
        );
    }
    text
}
