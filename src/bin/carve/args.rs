//! Arguments shared by several subcommands (`--models`, `--json`) and the value parsers that turn
//! flag text into typed values (points, boxes, colours, image sizes, LODs) while clap parses.
//!
//! A value our parsers reject is reported like any other `carve` error, on one line with exit status
//! 1 (see [`InvalidValue`] and `main`); clap's own errors (unknown flag, missing value, a number
//! that does not parse) keep clap's format.

use std::path::PathBuf;

/// `--models DIR`: where to look for model folders first.
#[derive(clap::Args)]
pub struct ModelsArg {
    /// Look for model folders here first (then $CARVE_MODELS, then the user data folder).
    #[arg(long, value_name = "DIR")]
    pub models: Option<PathBuf>,
}

impl ModelsArg {
    /// Every model folder on the search path (`--models`, then `$CARVE_MODELS`, then the user data
    /// folder); a missing `--models` folder is an error.
    pub fn discover(&self) -> anyhow::Result<Vec<carve::model::ModelFolder>> {
        use anyhow::Context as _;
        carve::model::discover(self.models.as_deref()).context("cannot search for models")
    }
}

/// `--json`: a machine-readable summary on stdout instead of the human line.
#[derive(clap::Args)]
pub struct JsonArg {
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A flag value one of the parsers below rejected. `main` prints it as one `carve: error:` line
/// naming the flag and the value, as these checks did before clap ran them.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    fn new(reason: impl std::fmt::Display) -> Self {
        Self(reason.to_string())
    }
}

/// A positive click `X,Y` in pixels.
pub fn positive_point(text: &str) -> Result<carve::PointPrompt, InvalidValue> {
    carve::PointPrompt::parse(text, carve::PointLabel::Positive).map_err(InvalidValue::new)
}

/// A negative click `X,Y` in pixels.
pub fn negative_point(text: &str) -> Result<carve::PointPrompt, InvalidValue> {
    carve::PointPrompt::parse(text, carve::PointLabel::Negative).map_err(InvalidValue::new)
}

/// A box `X0,Y0,X1,Y1` in pixels, corners in any order, with an area.
pub fn bbox(text: &str) -> Result<carve::BoxPrompt, InvalidValue> {
    text.parse().map_err(InvalidValue::new)
}

/// A colour `R,G,B`, each 0-255.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb8(pub [u8; 3]);

impl Rgb8 {
    /// Linear 0-1 components, as the renderer takes them.
    pub fn to_unit_f32(self) -> [f32; 3] {
        self.0.map(|c| f32::from(c) / 255.0)
    }
}

impl std::str::FromStr for Rgb8 {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, InvalidValue> {
        let parts: Result<Vec<u8>, _> = text.split(',').map(|p| p.trim().parse::<u8>()).collect();
        match parts.ok().and_then(|v| <[u8; 3]>::try_from(v).ok()) {
            Some(rgb) => Ok(Self(rgb)),
            None => Err(InvalidValue("expected R,G,B with each 0-255".to_owned())),
        }
    }
}

/// The largest image side `carve render` draws, in pixels.
pub const MAX_SIZE_PX: u32 = 16384;

/// An image width or height in pixels, 1 to [`MAX_SIZE_PX`]. Text that is not a number gets
/// clap's usual `u32` message.
pub fn size_px() -> impl clap::builder::TypedValueParser<Value = u32> {
    use clap::builder::TypedValueParser as _;
    clap::value_parser!(u32).try_map(check_size_px)
}

fn check_size_px(size: u32) -> Result<u32, InvalidValue> {
    if (1..=MAX_SIZE_PX).contains(&size) {
        Ok(size)
    } else {
        Err(InvalidValue(format!("{size} is out of range (1..={MAX_SIZE_PX})")))
    }
}

/// A level of detail of the MHR body, 0 to 6. Text that is not a number keeps clap's usual message.
pub fn lod(text: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let lod: usize = text.parse()?;
    carve::body::lod::check_lod(lod).map_err(InvalidValue::new)?;
    Ok(lod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(" 30, 30,36".parse::<Rgb8>().unwrap(), Rgb8([30, 30, 36]));
        assert!("1,2".parse::<Rgb8>().is_err() && "1,2,256".parse::<Rgb8>().is_err());
        assert_eq!(check_size_px(16384).unwrap(), 16384);
        assert!(check_size_px(0).unwrap_err().to_string().contains("out of range"));
        assert!(lod("x").unwrap_err().downcast_ref::<InvalidValue>().is_none(), "clap's message");
        assert_eq!(lod("6").unwrap(), 6);
        assert!(lod("7").unwrap_err().to_string().contains("LOD 7"));
        assert!(bbox("1,2,3").unwrap_err().to_string().contains("x0,y0,x1,y1"));
        assert_eq!(negative_point("3,4").unwrap().label, carve::PointLabel::Negative);
    }
}

/// How a batch is split across processes (Ray, Slurm job arrays, Kubernetes Indexed Jobs) and
/// resumed.
#[derive(clap::Args, Debug, Default)]
pub struct ShardArgs {
    /// Do only shard I of N (0-based): the items whose path hash modulo N is I. Without it, the
    /// shard comes from `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT` (less
    /// `SLURM_ARRAY_TASK_MIN`) or `JOB_COMPLETION_INDEX` with --shards N; else the whole batch.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<carve::core::shard::Shard>,
    /// The shard count for `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job's completions).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Skip items the shard's manifest records as done with their outputs unchanged.
    #[arg(long)]
    pub resume: bool,
}

impl ShardArgs {
    /// The shard this process does.
    pub fn shard(&self) -> anyhow::Result<carve::core::shard::Shard> {
        if let Some(shard) = self.shard {
            return Ok(shard);
        }
        let from_env = carve::core::shard::Shard::from_env(|k| std::env::var(k).ok(), self.shards)?;
        match (from_env, self.shards) {
            (Some(shard), _) => Ok(shard),
            (None, Some(n)) => anyhow::bail!(
                "--shards {n} without a shard index: give --shard I/{n}, or run under a Slurm job array or a Kubernetes Indexed Job"
            ),
            (None, None) => Ok(carve::core::shard::Shard::ALL),
        }
    }
}
