//! `carve body demo`: the built-in demo rig, posed by `--param NAME=VALUE`, as a skinned GLB (or
//! the posed mesh as PLY); `--list-params` names what can be set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use carve::body::{self, BodyParams};
use serde::Serialize;

use crate::args;
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
    lod: usize,
    /// Output: skinned .glb, or the posed mesh as .ply.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Set a parameter, e.g. `--param l_elbow_rz=1.2` (repeatable; see `--list-params`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Print the rig's parameter names and exit.
    #[arg(long)]
    list_params: bool,
    #[arg(long)]
    json: bool,
}

/// What `carve body demo --json` prints.
#[derive(Serialize)]
struct DemoSummary<'a> {
    lod: usize,
    vertices: usize,
    triangles: usize,
    joints: usize,
    out: &'a Path,
}

pub fn run(a: &DemoArgs) -> anyhow::Result<()> {
    let rig = body::demo_rig::demo_rig()?;
    if a.list_params {
        let mut lines: Vec<String> = rig
            .parameter_groups
            .iter()
            .map(|(group, idx)| {
                let names: Vec<&str> = idx.iter().map(|&i| rig.parameter_names[i as usize].as_str()).collect();
                format!("{group}: {}", names.join(" "))
            })
            .collect();
        lines.push(format!("identity: {}", rig.identity_names.join(" ")));
        lines.push(format!("expression: {}", rig.expression_names.join(" ")));
        return output::stdout(&(lines.join("\n") + "\n"));
    }
    let params = parse_params(&rig, &a.params)?;
    let joints = rig.joint_count();
    let written = super::write_skinned(&a.out, Arc::new(rig), a.lod, &params)?;
    let summary =
        DemoSummary { lod: a.lod, vertices: written.vertices, triangles: written.triangles, joints, out: &a.out };
    output::finish(a.json, &summary, |s| {
        Text::Stderr(format!(
            "demo rig, LOD {}: {} vertices, {} triangles, {} joints → {}",
            s.lod,
            s.vertices,
            s.triangles,
            s.joints,
            s.out.display()
        ))
    })
}

/// The rig's zero parameters with each `NAME=VALUE` set (model, identity or expression names).
fn parse_params(rig: &body::Rig, items: &[String]) -> anyhow::Result<BodyParams> {
    let mut p = rig.zero_params();
    for item in items {
        let (name, value) = item.split_once('=').with_context(|| format!("--param {item}: expected NAME=VALUE"))?;
        let value: f32 = value.trim().parse().with_context(|| format!("--param {item}: not a number"))?;
        let name = name.trim();
        if let Some(i) = rig.parameter_names.iter().position(|n| n == name) {
            p.model[i] = value;
        } else if let Some(i) = rig.identity_names.iter().position(|n| n == name) {
            p.identity[i] = value;
        } else if let Some(i) = rig.expression_names.iter().position(|n| n == name) {
            p.expression[i] = value;
        } else {
            anyhow::bail!("--param {item}: the rig has no parameter '{name}' (see --list-params)");
        }
    }
    rig.check_params(&p)?;
    Ok(p)
}
