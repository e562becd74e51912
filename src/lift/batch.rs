//! Lifting a labelled folder: every human label of a dataset (`io::dataset`, `DIR/dataset.json`)
//! becomes one lifted object, `OUT/<image file>/<class>_<annotation id>/` with the four files of
//! [`super::write_outputs`]. Split and resumed like every batch ([`crate::core::shard`]): an item
//! is `<image file>#<annotation id>`, a shard does the items its hash owns, records each in its
//! manifest (outputs with their content hashes), and `--resume` skips the ones done.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{DepthModel, LiftParams};
use crate::core::image::Image;
use crate::core::shard::{BatchOptions, ItemStatus, Manifest, ManifestError, ManifestLine, OutputFile};
use crate::core::task::Progress;
use crate::io::dataset::{Dataset, Origin};

/// What happened to one object of a lift batch.
#[derive(Clone, Debug, Serialize)]
pub struct LiftBatchItem {
    /// `<image file>#<annotation id>`.
    pub item: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The object's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
}

/// Why a lift batch could not run.
#[derive(Debug, thiserror::Error)]
pub enum LiftBatchError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{}: cannot create the output folder: {source}", path.display())]
    OutDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Cancelled(#[from] crate::core::task::Cancelled),
}

/// A file or folder name made of an item's parts (no separators, nothing hidden).
fn safe_name(s: &str) -> String {
    let name: String =
        s.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(80).collect();
    name.trim_start_matches('.').to_owned()
}

/// Lifts every human label of `dataset` (in folder `dir`) that `options.shard` owns into
/// `out_dir`; one bad image or mask is recorded with its reason and the batch goes on.
pub fn run_lift_batch(
    dir: &Path,
    dataset: &Dataset,
    out_dir: &Path,
    params: &LiftParams,
    depth: Option<&DepthModel>,
    options: BatchOptions,
    progress: &Progress,
) -> Result<(Vec<LiftBatchItem>, Vec<String>), LiftBatchError> {
    std::fs::create_dir_all(out_dir).map_err(|source| LiftBatchError::OutDir { path: out_dir.to_owned(), source })?;
    let manifest_path = out_dir.join(options.shard.manifest_name());
    let mut manifest = Manifest::open(&manifest_path, options.resume)?;
    let classes: BTreeMap<u64, &str> = dataset.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let mut mine: Vec<(String, &crate::io::dataset::Annotation)> = dataset
        .annotations
        .iter()
        .filter(|a| a.origin == Origin::Human)
        .filter_map(|a| dataset.image(a.image_id).map(|im| (format!("{}#{}", im.file_name, a.id), a)))
        .filter(|(item, _)| options.shard.owns(item))
        .collect();
    mine.sort_by(|a, b| a.0.cmp(&b.0));
    let engine = match depth {
        Some(d) => d.name.clone(),
        None => "silhouette".to_owned(),
    };
    let (mut items, mut last_image): (Vec<LiftBatchItem>, Option<(u64, Image)>) = (Vec::new(), None);
    for (k, (item, a)) in mine.iter().enumerate() {
        progress.check()?;
        progress.set(k as f32 / mine.len().max(1) as f32, item.clone());
        let Some(im) = dataset.image(a.image_id) else { continue };
        let class = classes.get(&a.category_id).copied().unwrap_or("object");
        let folder = out_dir.join(&im.file_name).join(safe_name(&format!("{class}_{}", a.id)));
        if manifest.done(item, out_dir).is_some() {
            items.push(LiftBatchItem { item: item.clone(), ok: true, error: None, out: Some(folder), resumed: true });
            continue;
        }
        if options.resume {
            for name in ["splats.ply", "splats.glb", "object.glb", "scene.json"] {
                crate::core::fs::remove_stale_temps(&folder.join(name));
            }
        }
        let started = std::time::Instant::now();
        let result = (|| -> Result<Vec<PathBuf>, String> {
            let image = match last_image.take() {
                Some((id, image)) if id == im.id => image,
                _ => Image::load(dir.join(&im.file_name)).map_err(|e| e.to_string())?,
            };
            if (image.width(), image.height()) != (im.width, im.height) {
                return Err(format!(
                    "{}: the image is {}×{}, the dataset says {}×{}",
                    im.file_name,
                    image.width(),
                    image.height(),
                    im.width,
                    im.height
                ));
            }
            let mask = dataset.mask_of(a).ok_or_else(|| format!("annotation {}: its mask cannot be read", a.id))?;
            let lifted = super::lift_with(&image, &mask, params, depth, &Progress::new());
            last_image = Some((im.id, image));
            let lifted = lifted.map_err(|e| e.to_string())?;
            super::write_outputs(&folder, &lifted).map_err(|e| e.to_string())
        })();
        let mut line = ManifestLine {
            item: item.clone(),
            status: ItemStatus::Failed,
            outputs: Vec::new(),
            error: None,
            engine: Some(engine.clone()),
            precision: None,
            score: None,
            label: Some(class.to_owned()),
            timings_ms: BTreeMap::from([("lift".to_owned(), started.elapsed().as_secs_f64() * 1e3)]),
            shard: options.shard,
        };
        let mut entry = LiftBatchItem { item: item.clone(), ok: false, error: None, out: None, resumed: false };
        match result {
            Ok(mut written) => {
                written.sort();
                match written.iter().map(|p| OutputFile::of(out_dir, p)).collect::<Result<Vec<_>, _>>() {
                    Ok(outputs) => {
                        line.outputs = outputs;
                        line.status = ItemStatus::Ok;
                        (entry.ok, entry.out) = (true, Some(folder));
                    }
                    Err(e) => entry.error = Some(format!("{}: {e}", folder.display())),
                }
            }
            Err(e) => entry.error = Some(e),
        }
        line.error = entry.error.as_ref().map(|e| e.replace(&format!("{}/", dir.display()), ""));
        manifest.append(line)?;
        items.push(entry);
    }
    manifest.compact()?;
    progress.set(1.0, "lift batch done");
    Ok((items, manifest.corrupt.clone()))
}
