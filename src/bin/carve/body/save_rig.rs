//! `carve body save-rig`: a rig file (.rig.safetensors) of the demo rig or a copy of `--rig`,
//! optionally rebased on one LOD.

use std::path::PathBuf;

use carve::body;

use crate::args;

#[derive(clap::Args)]
pub struct SaveRigArgs {
    /// Output rig file.
    out: PathBuf,
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    /// Keep only this LOD, as the file's base mesh.
    #[arg(long, value_parser = args::lod)]
    lod: Option<usize>,
}

pub fn run(a: &SaveRigArgs) -> anyhow::Result<()> {
    let mut rig = body::load_rig(a.rig.as_deref())?;
    if let Some(lod) = a.lod {
        rig = rig.rebased(lod)?;
    }
    rig.save(&a.out)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
