//! Running segmentation end to end, as the CLI and the GUI do: pick the engine (`auto`: SAM 3 when
//! a valid model folder is found, else SAM 2.1, else classical), segment an image with a prompt (timing the
//! encode and decode steps, cleaning the masks), and run whole folders from a prompts file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::postprocess::Cleanup;
use super::sam2::Sam2Segmenter;
use super::sam3::Sam3Segmenter;
use super::{ClassicalSegmenter, EngineChoice, EngineKind, FeatureSource, ScoredMask, SegmentError, Segmenter};
use crate::core::image::Image;
use crate::core::prompt::{BoxPrompt, PointLabel, PointPrompt, Prompt, PromptError};
use crate::core::task::Progress;
use crate::model::precision::{Precision, PrecisionChoice};
use crate::model::{ModelError, ModelFolder, ModelKind, registry::first_valid};

/// Builds the engine the user chose, given the model folders found. `auto` takes SAM 3 when a
/// valid `sam3` folder is there, else SAM 2.1 when a valid `sam2` folder is, else the classical
/// engine; [`Segmenter::engine`] says which.
pub fn make_segmenter(
    choice: EngineChoice,
    precision: PrecisionChoice,
    models: &[ModelFolder],
) -> Result<Box<dyn Segmenter>, SegmentError> {
    let sam3 = first_valid(models, &ModelKind::Sam3);
    let sam2 = first_valid(models, &ModelKind::Sam2);
    let not_found = |flag: &str, kind: &str, script: &str, checkpoint: &str| -> SegmentError {
        // Folders that may have been meant (this kind, or a manifest too broken to say) and why
        // they cannot be used, each problem naming its file.
        let problems: Vec<&str> = models
            .iter()
            .filter(|m| !m.valid && m.kind.as_ref().is_none_or(|k| k.as_str() == kind))
            .filter_map(|m| m.problems.first().map(String::as_str))
            .collect();
        if !problems.is_empty() {
            let shown = problems.iter().take(3).copied().collect::<Vec<_>>().join("; ");
            let more = problems.len().saturating_sub(3);
            return ModelError::Unusable {
                what: format!("--engine {flag}"),
                kind: kind.into(),
                problems: if more > 0 { format!("{shown} (and {more} more: see `carve models`)") } else { shown },
            }
            .into();
        }
        ModelError::NotFound {
            what: format!("--engine {flag}"),
            kind: kind.into(),
            hint: format!(
                "make one with `.venv/bin/python tools/{script} --out DIR [--checkpoint {checkpoint}]` and pass \
                 `--models DIR` (see `carve models`)"
            ),
        }
        .into()
    };
    Ok(match (choice, sam3, sam2) {
        (EngineChoice::Classical, _, _) | (EngineChoice::Auto, None, None) => Box::new(ClassicalSegmenter::default()),
        (EngineChoice::Sam3 | EngineChoice::Auto, Some(folder), _) => Box::new(Sam3Segmenter::load(folder, precision)?),
        (EngineChoice::Sam2 | EngineChoice::Auto, _, Some(folder)) => Box::new(Sam2Segmenter::load(folder, precision)?),
        (EngineChoice::Sam3, None, _) => return Err(not_found("sam3", "sam3", "export_sam3.py", "sam3.pt")),
        (EngineChoice::Sam2, _, None) => {
            return Err(not_found("sam2", "sam2", "export_sam2.py", "sam2.1_hiera_tiny.pt"));
        }
    })
}

/// The masks of one segmentation and how long it took.
#[derive(Clone, Debug)]
pub struct SegmentOutcome {
    pub engine: EngineKind,
    /// Best first.
    pub masks: Vec<ScoredMask>,
    /// Time to prepare/encode the image.
    pub encode_ms: f64,
    /// Time to answer the prompt (including clean-up and upsampling).
    pub decode_ms: f64,
    /// Where a model engine took the image features from (`None` for the classical engine).
    pub features: Option<FeatureSource>,
    /// The precision a model engine's encoder runs at (`None` for the classical engine).
    pub precision: Option<Precision>,
}

/// Sets `image` on `segmenter`, answers `prompt`, cleans every mask and sorts them best first.
pub fn segment_image(
    segmenter: &mut dyn Segmenter,
    image: &Image,
    prompt: &Prompt,
    cleanup: Option<Cleanup>,
    progress: &Progress,
) -> Result<SegmentOutcome, SegmentError> {
    prompt.validate(image.width(), image.height())?;
    let t0 = Instant::now();
    segmenter.set_image(image, &progress.sub(0.0, 0.9))?;
    let encode_ms = t0.elapsed().as_secs_f64() * 1e3;
    progress.check()?;
    let t1 = Instant::now();
    let mut masks = segmenter.segment(prompt, None)?;
    if let Some(cleanup) = cleanup {
        for m in &mut masks {
            m.mask = cleanup.apply(&m.mask);
        }
    }
    masks.sort_by(|a, b| b.score.total_cmp(&a.score));
    let decode_ms = t1.elapsed().as_secs_f64() * 1e3;
    progress.set(1.0, "segmented");
    tracing::info!(engine = segmenter.engine().as_str(), masks = masks.len(), encode_ms, decode_ms, "segmented");
    let (features, precision) = (segmenter.feature_source(), segmenter.precision());
    Ok(SegmentOutcome { engine: segmenter.engine(), masks, encode_ms, decode_ms, features, precision })
}

/// The prompt for one file of a batch, as written in `prompts.json`:
/// `{"photo.jpg": {"points": [[x, y]], "neg_points": [[x, y]], "box": [x0, y0, x1, y1], "text": "cat"}}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    #[serde(default)]
    pub points: Vec<[f32; 2]>,
    #[serde(default)]
    pub neg_points: Vec<[f32; 2]>,
    #[serde(default, rename = "box")]
    pub bbox: Option<[f32; 4]>,
    #[serde(default)]
    pub text: Option<String>,
}

impl PromptSpec {
    pub fn to_prompt(&self) -> Result<Prompt, PromptError> {
        let point = |[x, y]: [f32; 2], label| PointPrompt { x_px: x, y_px: y, label };
        let bbox = match self.bbox {
            Some([a, b, c, d]) => Some(format!("{a},{b},{c},{d}").parse::<BoxPrompt>()?),
            None => None,
        };
        Ok(Prompt {
            points: self
                .points
                .iter()
                .map(|&p| point(p, PointLabel::Positive))
                .chain(self.neg_points.iter().map(|&p| point(p, PointLabel::Negative)))
                .collect(),
            bbox,
            text: self.text.clone(),
        })
    }
}

/// Errors of a batch as a whole (single images fail on their own, see [`BatchItem`]).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{}: cannot read prompts: {source}", path.display())]
    PromptsIo { path: PathBuf, source: std::io::Error },
    #[error("{}: malformed prompts file: {message}", path.display())]
    PromptsJson { path: PathBuf, message: String },
    #[error("{}: cannot create the output folder: {source}", path.display())]
    OutDir { path: PathBuf, source: std::io::Error },
    #[error("input folder {} does not exist", path.display())]
    NoInput { path: PathBuf },
    #[error(transparent)]
    Engine(#[from] SegmentError),
    #[error(transparent)]
    Manifest(#[from] crate::core::shard::ManifestError),
}

pub use crate::core::shard::BatchOptions;

/// What a batch did: every item of the shard, and the manifest lines that could not be read back
/// (their items were redone).
#[derive(Clone, Debug)]
pub struct BatchRun {
    pub items: Vec<BatchItem>,
    pub corrupt_manifest_lines: Vec<String>,
    pub manifest: PathBuf,
}

/// Reads a prompts file.
pub fn read_prompts(path: &Path) -> Result<BTreeMap<String, PromptSpec>, BatchError> {
    let text = crate::core::fs::read_input_string(path, crate::core::fs::InputLimit::Document)
        .map_err(|e| BatchError::PromptsIo { path: path.to_owned(), source: e.source })?;
    let prompts: BTreeMap<String, PromptSpec> = serde_json::from_str(&text)
        .map_err(|e| BatchError::PromptsJson { path: path.to_owned(), message: e.to_string() })?;
    // Keys name files inside the batch folder: no absolute paths, no `..`, nothing but names.
    for key in prompts.keys() {
        let components = Path::new(key).components();
        let inside = !key.is_empty()
            && !key.contains('\0')
            && components.clone().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
            && components.clone().any(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            let shown: String = key.chars().take(80).collect::<String>().escape_debug().to_string();
            return Err(BatchError::PromptsJson {
                path: path.to_owned(),
                message: format!("key \"{shown}\" is not a file inside the batch folder"),
            });
        }
    }
    Ok(prompts)
}

/// Where each file of a batch writes its mask, inside the output folder: its path with the
/// extension replaced by `.png` (`sub/a.jpg` → `sub/a.png`). Two inputs that would share a name
/// (`a.jpg` and `a.png`) each keep their whole name instead (`a.jpg.png`, `a.png.png`), so no
/// output is written twice.
pub fn batch_output_names(files: impl IntoIterator<Item = String>) -> BTreeMap<String, PathBuf> {
    let files: Vec<String> = files.into_iter().collect();
    let plain = |f: &str| Path::new(f).with_extension("png");
    let mut uses: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for f in &files {
        *uses.entry(plain(f)).or_default() += 1;
    }
    files
        .into_iter()
        .map(|f| {
            let p = plain(&f);
            let name = if uses.get(&p).copied().unwrap_or(0) > 1 { PathBuf::from(format!("{f}.png")) } else { p };
            (f, name)
        })
        .collect()
}

/// What happened to one file of a batch.
#[derive(Clone, Debug, Serialize)]
pub struct BatchItem {
    pub file: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask_png: Option<PathBuf>,
    pub engine: Option<EngineKind>,
    pub masks: Vec<MaskSummary>,
    pub encode_ms: f64,
    pub decode_ms: f64,
    /// Done by an earlier run of the shard (`--resume`) and skipped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

/// Score, area and box of one mask, for summaries.
#[derive(Clone, Debug, Serialize)]
pub struct MaskSummary {
    pub score: f32,
    pub area: u64,
    /// `[x0, y0, x1, y1)` in pixels, of the mask.
    pub bbox: Option<[u32; 4]>,
    /// The engine's predicted box `[x0, y0, x1, y1]` in pixels (text instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub box_xyxy: Option<[f32; 4]>,
    pub label: Option<String>,
}

impl MaskSummary {
    pub fn of(m: &ScoredMask) -> Self {
        Self { score: m.score, area: m.mask.area(), bbox: m.mask.bbox(), box_xyxy: m.box_xyxy, label: m.label.clone() }
    }
}

/// Segments every file named in `prompts` from `input_dir` that `options.shard` owns, writing
/// `<stem>.png` (the best mask, atomically) into `out_dir` and a line per item into the shard's
/// manifest there. One bad image is recorded with its reason and skipped; the batch goes on. Output
/// names are worked out over the whole batch, so shards writing into one folder never collide.
pub fn run_batch(
    segmenter: &mut dyn Segmenter,
    input_dir: &Path,
    prompts: &BTreeMap<String, PromptSpec>,
    out_dir: &Path,
    options: BatchOptions,
    progress: &Progress,
) -> Result<BatchRun, BatchError> {
    use crate::core::shard::{ItemStatus, Manifest, ManifestLine, OutputFile};
    if !input_dir.is_dir() {
        return Err(BatchError::NoInput { path: input_dir.to_owned() });
    }
    std::fs::create_dir_all(out_dir).map_err(|source| BatchError::OutDir { path: out_dir.to_owned(), source })?;
    let manifest_path = out_dir.join(options.shard.manifest_name());
    let mut manifest = Manifest::open(&manifest_path, options.resume)?;
    let mut items = Vec::with_capacity(prompts.len());
    let names = batch_output_names(prompts.keys().cloned());
    let mine: Vec<(&String, &PromptSpec)> = prompts.iter().filter(|(f, _)| options.shard.owns(f)).collect();
    if options.resume {
        // A killed run may have left temporary files of its outputs and manifest behind.
        crate::core::fs::remove_stale_temps(&manifest_path);
        for (file, _) in &mine {
            if let Some(name) = names.get(*file) {
                crate::core::fs::remove_stale_temps(&out_dir.join(name));
            }
        }
    }
    for (index, (file, spec)) in mine.iter().copied().enumerate() {
        progress.check().map_err(SegmentError::from)?;
        progress.set(index as f32 / mine.len().max(1) as f32, file.clone());
        let mut item = BatchItem {
            file: file.clone(),
            ok: false,
            error: None,
            mask_png: None,
            engine: None,
            masks: Vec::new(),
            encode_ms: 0.0,
            decode_ms: 0.0,
            resumed: false,
        };
        if let Some(done) = manifest.done(file, out_dir) {
            item.ok = true;
            item.resumed = true;
            item.engine = done.engine.as_deref().and_then(EngineKind::from_name);
            item.mask_png = done.outputs.first().map(|o| out_dir.join(&o.path));
            items.push(item);
            continue;
        }
        let result = (|| -> Result<(SegmentOutcome, PathBuf), String> {
            let prompt = spec.to_prompt().map_err(|e| format!("{file}: {e}"))?;
            let source = input_dir.join(file);
            // A link inside the folder that points out of it is not followed.
            if let (Ok(real), Ok(folder)) = (source.canonicalize(), input_dir.canonicalize())
                && !real.starts_with(&folder)
            {
                return Err(format!("{}: links outside the batch folder; not read", source.display()));
            }
            let image = Image::load(&source).map_err(|e| e.to_string())?;
            let outcome = segment_image(
                segmenter,
                &image,
                &prompt,
                Some(Cleanup::for_image(image.width(), image.height())),
                &Progress::new(),
            )
            .map_err(|e| format!("{file}: {e}"))?;
            let out = out_dir.join(names.get(file).cloned().unwrap_or_else(|| PathBuf::from(format!("{file}.png"))));
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            if let Some(best) = outcome.masks.first() {
                best.mask.save_png(&out).map_err(|e| e.to_string())?;
            }
            Ok((outcome, out))
        })();
        let mut line = ManifestLine {
            item: file.clone(),
            status: ItemStatus::Failed,
            outputs: Vec::new(),
            error: None,
            engine: Some(segmenter.engine().as_str().to_owned()),
            precision: segmenter.precision().map(|p| p.as_str().to_owned()),
            score: None,
            label: None,
            timings_ms: BTreeMap::new(),
            shard: options.shard,
        };
        match result {
            Ok((outcome, out)) => {
                item.ok = true;
                item.engine = Some(outcome.engine);
                item.masks = outcome.masks.iter().map(MaskSummary::of).collect();
                item.encode_ms = outcome.encode_ms;
                item.decode_ms = outcome.decode_ms;
                line.status = ItemStatus::Ok;
                line.score = outcome.masks.first().map(|m| m.score);
                line.label = outcome.masks.first().and_then(|m| m.label.clone());
                line.timings_ms = BTreeMap::from([
                    ("encode".to_owned(), outcome.encode_ms),
                    ("decode".to_owned(), outcome.decode_ms),
                ]);
                if out.exists() {
                    match OutputFile::of(out_dir, &out) {
                        Ok(entry) => line.outputs.push(entry),
                        Err(e) => {
                            (item.ok, line.status) = (false, ItemStatus::Failed);
                            item.error = Some(format!("{}: {e}", out.display()));
                        }
                    }
                    item.mask_png = Some(out);
                }
            }
            Err(e) => item.error = Some(e),
        }
        // The manifest names inputs relative to the batch folder, so that merged summaries do not
        // depend on where each machine mounted it.
        line.error = item.error.as_ref().map(|e| e.replace(&format!("{}/", input_dir.display()), ""));
        manifest.append(line)?;
        items.push(item);
    }
    manifest.compact()?;
    progress.set(1.0, "batch done");
    Ok(BatchRun { items, corrupt_manifest_lines: manifest.corrupt.clone(), manifest: manifest_path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SearchOrigin;

    /// A model folder of `kind` whose files exist but are not TorchScript (valid to the registry,
    /// fails to load): loading it shows which engine `auto` tried.
    fn fake_folder(root: &Path, kind: &str, roles: &[&str]) -> ModelFolder {
        let dir = root.join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let mut manifest = format!("format = 1\nkind = \"{kind}\"\nname = \"fake\"\n[files]\n");
        for role in roles {
            manifest.push_str(&format!("{role} = \"{role}.pt\"\n"));
            std::fs::write(dir.join(format!("{role}.pt")), b"not torchscript").unwrap();
        }
        manifest.push_str("[input]\nwidth = 1024\nheight = 1024\n");
        std::fs::write(dir.join("manifest.toml"), manifest).unwrap();
        let folder = ModelFolder::inspect(&dir, SearchOrigin::Explicit);
        assert!(folder.valid, "{:?}", folder.problems);
        folder
    }

    fn load_error(choice: EngineChoice, models: &[ModelFolder]) -> String {
        match make_segmenter(choice, PrecisionChoice::Auto, models) {
            Ok(s) => panic!("{choice:?} loaded the {} engine", s.engine().as_str()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn auto_prefers_sam3_then_sam2_then_classical() {
        let root = tempfile::tempdir().unwrap();
        let sam3 = fake_folder(root.path(), "sam3", &["image_encoder", "click_decoder", "vocab"]);
        let sam2 = fake_folder(root.path(), "sam2", &["image_encoder", "click_decoder"]);
        let auto = |models: &[ModelFolder]| load_error(EngineChoice::Auto, models);
        // Both present (either order): SAM 3 is tried.
        assert!(auto(&[sam2.clone(), sam3.clone()]).contains("/sam3/"));
        assert!(auto(&[sam3.clone(), sam2.clone()]).contains("/sam3/"));
        // SAM 2.1 only: SAM 2.1 is tried.
        let err = auto(std::slice::from_ref(&sam2));
        assert!(err.contains("/sam2/image_encoder.pt") && err.contains("not a usable TorchScript"), "{err}");
        assert!(load_error(EngineChoice::Sam2, &[sam3.clone(), sam2.clone()]).contains("/sam2/"));
        // None: classical.
        assert_eq!(
            make_segmenter(EngineChoice::Auto, PrecisionChoice::Auto, &[]).unwrap().engine(),
            EngineKind::Classical
        );
        assert_eq!(
            make_segmenter(EngineChoice::Classical, PrecisionChoice::Auto, &[sam3, sam2]).unwrap().engine(),
            EngineKind::Classical
        );
        // Asked for by name but absent: the message names the export script.
        let err = load_error(EngineChoice::Sam2, &[]);
        assert!(err.contains("--engine sam2") && err.contains("tools/export_sam2.py"), "{err}");
        assert!(load_error(EngineChoice::Sam3, &[]).contains("tools/export_sam3.py"));
    }

    #[test]
    fn engine_names_round_trip() {
        for kind in EngineKind::ALL {
            assert_eq!(EngineKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EngineKind::from_name("sam9"), None);
        assert!(EngineKind::Sam2.encodes_images() && !EngineKind::Classical.encodes_images());
    }
}
