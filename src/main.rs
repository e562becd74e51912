//! `carve`: the command line. No subcommand opens the workbench window; each subcommand runs one
//! pipeline step headless. `--json` prints a machine-readable summary on stdout; progress and
//! messages go to stderr; errors exit non-zero with a one-line reason.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "carve",
    version,
    about = "Segment photos with SAM 3, lift objects to 3D, fit MHR bodies; GUI and CLI"
)]
#[command(after_help = "With no subcommand, carve opens the workbench window on the embedded demo photo.")]
struct Cli {
    /// Open this photo in the window instead of the demo.
    #[arg(long, value_name = "IMAGE")]
    open: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Report the libtorch version, compute devices and every model folder found.
    Models(ModelsArgs),
}

#[derive(clap::Args)]
struct ModelsArgs {
    /// Look for model folders here first (then $CARVE_MODELS, then the user data folder).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CARVE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => gui(cli.open),
        Some(Command::Models(args)) => models(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carve: error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn gui(open: Option<PathBuf>) -> anyhow::Result<()> {
    let start = match open {
        Some(path) => carve::app::StartImage::File(path),
        None => carve::app::StartImage::Demo,
    };
    carve::app::run_gui(start)?;
    Ok(())
}

fn models(args: &ModelsArgs) -> anyhow::Result<()> {
    use carve::model::{device_info, find_models, search_dirs};
    let env = std::env::var_os("CARVE_MODELS");
    let dirs = search_dirs(args.models.as_deref(), env.as_deref()).context("cannot search for models")?;
    let found = find_models(&dirs);
    let devices = device_info();
    if args.json {
        let short = devices.libtorch_version.split('+').next().unwrap_or_default().to_owned();
        let summary = serde_json::json!({
            "libtorch": short,
            "libtorch_build": devices.libtorch_version,
            "devices": devices,
            "search_path": dirs,
            "models": found,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("libtorch {}", devices.libtorch_version);
    let cuda = if devices.cuda_available {
        format!("{} CUDA device(s){}", devices.cuda_devices, if devices.cudnn_available { ", cuDNN" } else { "" })
    } else if devices.libtorch_built_with_cuda {
        "no CUDA device (libtorch has CUDA support)".to_owned()
    } else {
        "no CUDA (CPU-only libtorch)".to_owned()
    };
    println!("devices: cpu ({} threads); {cuda}", devices.cpu_threads);
    println!("search path:");
    for dir in &dirs {
        let origin = match dir.origin {
            carve::model::SearchOrigin::Explicit => "--models",
            carve::model::SearchOrigin::Environment => "$CARVE_MODELS",
            carve::model::SearchOrigin::UserData => "user data",
        };
        println!("  {origin:<14} {}{}", dir.path.display(), if dir.exists { "" } else { "  (absent)" });
    }
    if found.is_empty() {
        println!("models: none found. Put model folders (made by the scripts in tools/) in one of the folders above.");
    } else {
        println!("models:");
    }
    for m in &found {
        let kind = m.kind.as_ref().map_or("?", |k| k.as_str());
        let weights = match m.weights {
            Some(carve::model::manifest::Weights::Random) => " [random weights]",
            _ => "",
        };
        let status = if m.valid { "valid" } else { "INVALID" };
        println!("  {status:<8} {kind:<9} {}{weights}  {}", m.name.as_deref().unwrap_or("-"), m.path.display());
        for p in &m.problems {
            println!("           - {p}");
        }
    }
    Ok(())
}
