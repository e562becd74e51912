//! `carve batch merge`: folds the shard manifests of a batch's output folder (written by
//! `carve segment --batch … --shard I/N`, on any number of machines) into one summary and one COCO
//! file. Both are byte-identical whatever the shard count and the order the shards ran in: items
//! in path order, nothing that depends on a run (timings, shard numbers) in them — timings stay in
//! the shard manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use carve::core::shard::{ItemStatus, ManifestLine, OutputFile, read_lines};
use serde::Serialize;

use crate::args::JsonArg;
use crate::output::{self, Text};

#[derive(clap::Subcommand)]
pub enum BatchCommand {
    /// Merge the shard manifests in OUT_DIR into one summary (and a COCO file of the masks).
    Merge {
        /// The batch's output folder (holding `manifest*.jsonl`).
        out_dir: PathBuf,
        /// Where the merged summary goes (default: OUT_DIR/summary.json).
        #[arg(long, value_name = "SUMMARY.json")]
        summary: Option<PathBuf>,
        /// Also write one COCO file (RLE) of every item's mask.
        #[arg(long, value_name = "OUT.json")]
        coco: Option<PathBuf>,
        #[command(flatten)]
        output: JsonArg,
    },
}

/// One item in the merged summary (what does not depend on the run).
#[derive(Serialize)]
struct SummaryItem<'a> {
    item: &'a str,
    status: ItemStatus,
    outputs: &'a [OutputFile],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
}

#[derive(Serialize)]
struct Summary<'a> {
    items: usize,
    ok: usize,
    failed: usize,
    results: Vec<SummaryItem<'a>>,
}

#[derive(Serialize)]
struct MergeReport {
    summary: PathBuf,
    coco: Option<PathBuf>,
    manifests: usize,
    items: usize,
    ok: usize,
    failed: usize,
    /// Manifest lines that did not parse (`file:line: why`).
    corrupt: Vec<String>,
}

pub fn run(command: &BatchCommand) -> anyhow::Result<()> {
    match command {
        BatchCommand::Merge { out_dir, summary, coco, output } => {
            merge(out_dir, summary.as_deref(), coco.as_deref(), output.json)
        }
    }
}

/// The line that stands for an item seen in several manifests (a batch re-run with another
/// shard count): a finished one with its outputs intact first, then the smallest as JSON, so the
/// choice does not depend on the order the manifests are read in.
fn pick(out_dir: &Path, a: ManifestLine, b: ManifestLine) -> ManifestLine {
    let rank = |l: &ManifestLine| (!l.is_done(out_dir), serde_json::to_string(l).unwrap_or_default());
    if rank(&b) < rank(&a) { b } else { a }
}

fn merge(out_dir: &Path, summary: Option<&Path>, coco: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("manifest") && n.ends_with(".jsonl"))
        })
        .collect();
    manifests.sort();
    if manifests.is_empty() {
        anyhow::bail!("{}: no manifest*.jsonl (not the output folder of a batch)", out_dir.display());
    }
    let mut corrupt = Vec::new();
    let mut items: BTreeMap<String, ManifestLine> = BTreeMap::new();
    for path in &manifests {
        let (lines, bad) = read_lines(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        corrupt.extend(bad);
        for line in lines {
            let chosen = match items.remove(&line.item) {
                Some(known) => pick(out_dir, known, line),
                None => line,
            };
            items.insert(chosen.item.clone(), chosen);
        }
    }
    for c in &corrupt {
        eprintln!("note: {c}; that item is missing from the merge unless another line has it (re-run with --resume)");
    }
    let results: Vec<SummaryItem> = items
        .values()
        .map(|l| SummaryItem {
            item: &l.item,
            status: l.status,
            outputs: &l.outputs,
            error: l.error.as_deref(),
            engine: l.engine.as_deref(),
            precision: l.precision.as_deref(),
            score: l.score,
            label: l.label.as_deref(),
        })
        .collect();
    let ok = results.iter().filter(|r| r.status == ItemStatus::Ok).count();
    let doc = Summary { items: results.len(), ok, failed: results.len() - ok, results };
    let summary_path = summary.map(Path::to_owned).unwrap_or_else(|| out_dir.join("summary.json"));
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    carve::core::fs::write_atomic(&summary_path, &bytes)?;
    if let Some(coco) = coco {
        let mut masks = Vec::new();
        for line in items.values().filter(|l| l.status == ItemStatus::Ok) {
            // Masks of a segmentation batch (a lift batch's objects are no masks).
            let Some(out) = line.outputs.iter().find(|o| o.path.ends_with(".png")) else { continue };
            let path = out_dir.join(&out.path);
            if !out.is_intact(out_dir) {
                anyhow::bail!(
                    "{}: changed or missing since its shard wrote it (re-run the shard with --resume)",
                    path.display()
                );
            }
            masks.push((line, carve::Mask::load_png(&path)?));
        }
        let images: Vec<carve::io::mask_export::ExportImage> = masks
            .iter()
            .map(|(line, mask)| carve::io::mask_export::ExportImage {
                file_name: &line.item,
                width: mask.width(),
                height: mask.height(),
                masks: vec![carve::io::mask_export::ExportMask {
                    mask,
                    score: line.score.unwrap_or(1.0),
                    label: line.label.as_deref(),
                    engine: line.engine.as_deref().unwrap_or("?"),
                }],
            })
            .collect();
        if images.is_empty() && doc.ok > 0 {
            anyhow::bail!("--coco: this batch's outputs are no masks (a lift batch?); the summary was written");
        }
        carve::io::mask_export::write_coco(coco, &images)?;
    }
    let report = MergeReport {
        summary: summary_path,
        coco: coco.map(Path::to_owned),
        manifests: manifests.len(),
        items: doc.items,
        ok: doc.ok,
        failed: doc.failed,
        corrupt,
    };
    output::finish(json, &report, |r| {
        Text::Stderr(format!(
            "merged {} manifests: {} items ({} ok, {} failed) into {}",
            r.manifests,
            r.items,
            r.ok,
            r.failed,
            r.summary.display()
        ))
    })
}
