//! `carve`: the command line. No subcommand opens the workbench window; each subcommand runs one
//! pipeline step headless. `--json` prints a machine-readable summary on stdout; progress and
//! messages go to stderr; errors exit non-zero with a one-line reason.
//!
//! One file per subcommand (`body/` holds one per `carve body …` subcommand); `args` holds the
//! flags several share and the value parsers, `output` the JSON-or-text summary and error line.

mod args;
mod batch;
mod body;
mod dataset;
mod lift;
mod models;
mod output;
mod progress;
mod render;
mod segment;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "carve",
    version,
    about = "Segment photos with SAM 3, lift objects to 3D, fit MHR bodies; GUI and CLI"
)]
#[command(after_help = "With no subcommand, carve opens the workbench window on the embedded demo photo.")]
struct Cli {
    /// Open this photo in the window instead of the demo (a folder: label it as a dataset).
    #[arg(long, value_name = "IMAGE|FOLDER")]
    open: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Segment a photo from clicks, a box or a text prompt; or a folder of photos (--batch).
    Segment(Box<segment::SegmentArgs>),
    /// Lift a masked object to 3D: voxels, Gaussian splats, mesh and scene camera.
    Lift(lift::LiftArgs),
    /// Render meshes, splats and point clouds (.glb, .gltf, .ply) to a PNG, offscreen.
    Render(render::RenderArgs),
    /// Report the libtorch version, compute devices and every model folder found.
    Models(models::ModelsArgs),
    /// Body rigs: import SAM 3D Body outputs, the demo rig, fitting, LODs.
    #[command(subcommand)]
    Body(body::BodyCommand),
    /// Label a folder: one COCO file (DIR/dataset.json) as the source of truth; init, stats,
    /// import, export (COCO, YOLO-seg, labelme, PNG).
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Batches split across machines: merge the shards' manifests.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CARVE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match invalid_value_line(&e) {
            Some(line) => {
                eprintln!("carve: error: {line}");
                return ExitCode::FAILURE;
            }
            // Help, version and usage errors: clap's own output and exit status.
            None => e.exit(),
        },
    };
    let result = match cli.command {
        None => gui(cli.open),
        Some(Command::Models(args)) => models::run(&args),
        Some(Command::Segment(args)) => segment::run(&args),
        Some(Command::Render(args)) => render::run(&args),
        Some(Command::Lift(args)) => lift::run(&args),
        Some(Command::Body(command)) => body::run(&command),
        Some(Command::Dataset(command)) => dataset::run(&command),
        Some(Command::Batch(command)) => batch::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carve: error: {}", output::error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// For a value one of our parsers rejected ([`args::InvalidValue`]): the one-line reason naming the
/// flag and the value, as `carve` reports its other errors. `None` for every other clap error.
fn invalid_value_line(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let reason = std::error::Error::source(e)?.downcast_ref::<args::InvalidValue>()?;
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => "?",
    };
    Some(format!(
        "invalid value '{}' for '{}': {reason}",
        context(ContextKind::InvalidValue),
        context(ContextKind::InvalidArg)
    ))
}

fn gui(open: Option<PathBuf>) -> anyhow::Result<()> {
    let start = match open {
        Some(path) => carve::app::StartImage::File(path),
        None => carve::app::StartImage::Demo,
    };
    carve::app::run_gui(start)?;
    Ok(())
}
