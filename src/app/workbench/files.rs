//! The workbench's masks in files: one mask exported as PNG, COCO RLE or polygons, and the round
//! trip through a project's mask entries.

use std::path::{Path, PathBuf};

use super::{MaskEntry, Workbench};
use crate::io::mask_export::{ExportImage, ExportMask};
use crate::io::project::ProjectMask;
use crate::segment::EngineKind;

/// Why a mask could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such mask")]
    NoSuchMask(usize),
    #[error("{}: export as .png, .json (COCO RLE) or .polygons.json", path.display())]
    UnknownFormat { path: PathBuf },
    #[error(transparent)]
    Png(#[from] crate::core::mask::MaskError),
    #[error(transparent)]
    Json(#[from] crate::core::fs::FileError),
}

/// Why a project's masks could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The mask's RLE could not be decoded (the error names the mask).
    #[error(transparent)]
    Decode(#[from] crate::io::project::ProjectMaskError),
    #[error("mask '{name}' is {}×{}, the photo {}×{}", mask_size[0], mask_size[1], photo_size[0], photo_size[1])]
    SizeMismatch { name: String, mask_size: [u32; 2], photo_size: [u32; 2] },
}

impl Workbench {
    /// Writes mask `i` as a PNG, a COCO RLE JSON or a polygon JSON (by the extension).
    pub fn export(&self, i: usize, path: &Path, file_name: &str) -> Result<(), ExportError> {
        let m = self.masks.get(i).ok_or(ExportError::NoSuchMask(i))?;
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let image = ExportImage {
            file_name,
            width: m.mask.width(),
            height: m.mask.height(),
            masks: vec![ExportMask {
                mask: &m.mask,
                score: m.score,
                label: m.label.as_deref(),
                engine: m.engine.as_str(),
            }],
        };
        match ext.as_str() {
            "png" => Ok(m.mask.save_png(path)?),
            "json" if path.to_string_lossy().ends_with(".polygons.json") => {
                Ok(crate::io::mask_export::write_polygons(path, &image)?)
            }
            "json" => Ok(crate::io::mask_export::write_coco(path, &[image])?),
            _ => Err(ExportError::UnknownFormat { path: path.to_owned() }),
        }
    }

    /// The masks as project entries.
    pub fn project_masks(&self) -> Vec<ProjectMask> {
        self.masks
            .iter()
            .map(|m| {
                let (size, counts) = ProjectMask::encode(&m.mask);
                ProjectMask {
                    name: m.name.clone(),
                    color: m.color,
                    visible: m.visible,
                    engine: m.engine.as_str().to_owned(),
                    score: m.score,
                    label: m.label.clone(),
                    points: m.points.clone(),
                    size,
                    counts,
                }
            })
            .collect()
    }

    /// Replaces the masks with a project's (history starts afresh). Masks of another image size
    /// are refused, naming the mask.
    pub fn restore(&mut self, masks: &[ProjectMask], selected: Option<usize>) -> Result<(), RestoreError> {
        let (w, h) = (self.image.width(), self.image.height());
        let mut entries = Vec::with_capacity(masks.len());
        for m in masks {
            let mask = m.decode()?;
            if (mask.width(), mask.height()) != (w, h) {
                return Err(RestoreError::SizeMismatch {
                    name: m.name.clone(),
                    mask_size: [mask.width(), mask.height()],
                    photo_size: [w, h],
                });
            }
            entries.push(MaskEntry {
                name: m.name.clone(),
                mask,
                color: m.color,
                visible: m.visible,
                engine: EngineKind::from_name(&m.engine).unwrap_or(EngineKind::Classical),
                score: m.score,
                points: m.points.clone(),
                hypotheses: Vec::new(),
                label: m.label.clone(),
                prelabel: false,
            });
        }
        self.next_name = entries.len() + 1;
        self.masks = entries;
        self.selected = selected.filter(|&i| i < self.masks.len());
        self.history.clear();
        self.changed();
        Ok(())
    }
}
