//! Importing labels other tools wrote into a dataset: YOLO-seg (`labels/*.txt` + `data.yaml`, the
//! Ultralytics layout) and labelme (one JSON per image). Each reader returns the masks it could
//! make and one note per thing it left out (a coordinate outside [0, 1], a class id `data.yaml`
//! does not name, a polygon of fewer than 3 points, an image size that disagrees with the
//! dataset's, a label file for an image the dataset lacks): a bad label is reported, never fatal,
//! and nothing else is lost.
//!
//! `data.yaml` is read for its `names` only, in the three forms Ultralytics writes (an inline list
//! `names: [a, b]`, a block list of `- a` lines, a mapping of `0: a` lines); a YAML library for one
//! key was not worth a dependency.

use std::collections::HashMap;
use std::path::Path;

use crate::core::fs::InputLimit;
use crate::core::mask::{Mask, Polygon};
use crate::io::dataset::Dataset;

/// A label read from another tool's files: the dataset image's id, the class name and the mask.
pub struct ImportedLabel {
    pub image_id: u64,
    pub class: String,
    pub mask: Mask,
}

/// Errors that stop an import (a missing or unreadable `data.yaml` or folder); bad labels are notes.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ImportError {
    pub path: std::path::PathBuf,
    pub message: String,
}

fn error(path: &Path, message: impl Into<String>) -> ImportError {
    ImportError { path: path.to_owned(), message: message.into() }
}

/// The key under which exports name an image: its path without extension, sub-folders joined by
/// `__` (what `carve dataset export` writes).
pub fn export_stem(file_name: &str) -> String {
    let p = Path::new(file_name);
    let parent = p.parent().map(|d| d.to_string_lossy().replace('/', "__")).unwrap_or_default();
    let s = p.file_stem().map_or_else(|| file_name.to_owned(), |s| s.to_string_lossy().into_owned());
    if parent.is_empty() { s } else { format!("{parent}__{s}") }
}

/// Class names from `data.yaml` text (see the module doc for the forms read).
pub fn yolo_names(text: &str) -> Result<Vec<String>, String> {
    let unquote = |s: &str| -> String {
        let s = s.trim();
        match serde_json::from_str::<String>(s) {
            Ok(v) => v,
            Err(_) => s.trim_matches('\'').to_owned(),
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_start().starts_with("names:") && !l.starts_with(' ')) else {
        return Err("no `names:` key".into());
    };
    let inline = lines[start].trim_start()["names:".len()..].trim();
    if let Some(list) = inline.strip_prefix('[') {
        let list = list.strip_suffix(']').ok_or("`names: [` without a closing `]`")?;
        return Ok(list.split(',').map(unquote).filter(|s| !s.is_empty()).collect());
    }
    if !inline.is_empty() && !inline.starts_with('#') {
        return Err(format!("`names: {inline}` is not a list or a mapping"));
    }
    let mut by_id: Vec<(usize, String)> = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    for line in &lines[start + 1..] {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('-') {
            break;
        }
        let item = line.trim();
        if let Some(name) = item.strip_prefix("- ") {
            listed.push(unquote(name));
        } else if let Some((k, v)) = item.split_once(':') {
            let id: usize = k.trim().parse().map_err(|_| format!("`{item}`: a class id must be a number"))?;
            if id > 100_000 {
                return Err(format!("class id {id} is implausibly large"));
            }
            by_id.push((id, unquote(v)));
        }
    }
    if !listed.is_empty() {
        return Ok(listed);
    }
    by_id.sort_by_key(|(id, _)| *id);
    if by_id.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err("class ids are not 0, 1, 2, …".into());
    }
    Ok(by_id.into_iter().map(|(_, n)| n).collect())
}

/// Reads a YOLO-seg folder (`DIR/data.yaml`, `DIR/labels/*.txt`) against `dataset`'s images.
pub fn read_yolo(dir: &Path, dataset: &Dataset) -> Result<(Vec<ImportedLabel>, Vec<String>), ImportError> {
    let yaml = dir.join("data.yaml");
    let text = crate::core::fs::read_input_string(&yaml, InputLimit::Document)
        .map_err(|e| error(&yaml, e.source.to_string()))?;
    let names = yolo_names(&text).map_err(|m| error(&yaml, m))?;
    let labels_dir = dir.join("labels");
    let entries = std::fs::read_dir(&labels_dir).map_err(|e| error(&labels_dir, e.to_string()))?;
    let by_stem: HashMap<String, (u64, u32, u32)> =
        dataset.images.iter().map(|im| (export_stem(&im.file_name), (im.id, im.width, im.height))).collect();
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let (mut labels, mut notes) = (Vec::new(), Vec::new());
    for path in files {
        let shown = path.display();
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(&(image_id, w, h)) = by_stem.get(&stem) else {
            notes.push(format!("{shown}: no image \"{stem}.*\" in the dataset"));
            continue;
        };
        let text = match crate::core::fs::read_input_string(&path, InputLimit::Document) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("{shown}: {}", e.source));
                continue;
            }
        };
        for (n, line) in text.lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let Ok(class) = fields[0].parse::<usize>() else {
                notes.push(format!("{at}: class \"{}\" is not a number", fields[0]));
                continue;
            };
            let Some(name) = names.get(class) else {
                notes.push(format!("{at}: class {class} is not in data.yaml ({} names)", names.len()));
                continue;
            };
            let coords: Result<Vec<f64>, _> = fields[1..].iter().map(|v| v.parse::<f64>()).collect();
            let Ok(coords) = coords else {
                notes.push(format!("{at}: a coordinate is not a number"));
                continue;
            };
            if coords.len() < 6 || coords.len() % 2 != 0 {
                notes.push(format!("{at}: {} coordinates: a polygon needs at least 3 x y pairs", coords.len()));
                continue;
            }
            if coords.iter().any(|v| !v.is_finite() || !(0.0..=1.0).contains(v)) {
                notes.push(format!("{at}: a coordinate is outside [0, 1] (YOLO coordinates are normalised)"));
                continue;
            }
            let points = coords.chunks_exact(2).map(|p| [p[0] * f64::from(w), p[1] * f64::from(h)]).collect();
            let mask = Mask::from_polygons(w, h, &[Polygon { points }]);
            if mask.area() == 0 {
                notes.push(format!("{at}: the polygon covers no pixel"));
                continue;
            }
            labels.push(ImportedLabel { image_id, class: name.clone(), mask });
        }
    }
    Ok((labels, notes))
}

#[derive(serde::Deserialize)]
struct LabelmeFile {
    #[serde(rename = "imagePath")]
    image_path: String,
    #[serde(rename = "imageHeight")]
    image_height: u32,
    #[serde(rename = "imageWidth")]
    image_width: u32,
    #[serde(default)]
    shapes: Vec<LabelmeShape>,
}

#[derive(serde::Deserialize)]
struct LabelmeShape {
    label: String,
    points: Vec<[f64; 2]>,
    #[serde(default = "polygon")]
    shape_type: String,
}

fn polygon() -> String {
    "polygon".into()
}

/// Reads a folder of labelme JSON files against `dataset`'s images (matched by `imagePath`: the
/// dataset file name, or its last component when that is unique). Polygons and rectangles are
/// read; other shape types are noted and left out.
pub fn read_labelme(dir: &Path, dataset: &Dataset) -> Result<(Vec<ImportedLabel>, Vec<String>), ImportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| error(dir, e.to_string()))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut by_name: HashMap<String, Option<(u64, u32, u32)>> = HashMap::new();
    for im in &dataset.images {
        let entry = (im.id, im.width, im.height);
        by_name.insert(im.file_name.clone(), Some(entry));
        let base = im.file_name.rsplit('/').next().unwrap_or(&im.file_name).to_owned();
        if base != im.file_name {
            // A base name two images share is ambiguous.
            by_name.entry(base).and_modify(|v| *v = None).or_insert(Some(entry));
        }
    }
    let (mut labels, mut notes) = (Vec::new(), Vec::new());
    for path in files {
        let shown = path.display();
        let doc: LabelmeFile = match crate::core::fs::read_input_string(&path, InputLimit::Document)
            .map_err(|e| e.source.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(d) => d,
            Err(e) => {
                notes.push(format!("{shown}: not a labelme file: {e}"));
                continue;
            }
        };
        let key = doc.image_path.replace('\\', "/");
        let found = by_name.get(&key).or_else(|| by_name.get(key.rsplit('/').next().unwrap_or(&key)));
        let Some(Some((image_id, w, h))) = found.copied() else {
            notes.push(format!("{shown}: imagePath \"{}\" is not (unambiguously) in the dataset", doc.image_path));
            continue;
        };
        if (doc.image_width, doc.image_height) != (w, h) {
            notes.push(format!(
                "{shown}: the image is {w}×{h} in the dataset but {}×{} here: its labels were left out",
                doc.image_width, doc.image_height
            ));
            continue;
        }
        for (k, shape) in doc.shapes.iter().enumerate() {
            let at = format!("{shown}: shape {k} ({})", shape.label);
            if shape.points.iter().flatten().any(|v| !v.is_finite()) {
                notes.push(format!("{at}: a coordinate is not a number"));
                continue;
            }
            let points: Vec<[f64; 2]> = match shape.shape_type.as_str() {
                "polygon" if shape.points.len() >= 3 => shape.points.clone(),
                "polygon" => {
                    notes.push(format!("{at}: a polygon of {} points (3 at least)", shape.points.len()));
                    continue;
                }
                "rectangle" if shape.points.len() == 2 => {
                    let ([x0, y0], [x1, y1]) = (shape.points[0], shape.points[1]);
                    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
                }
                other => {
                    notes.push(format!("{at}: shape type \"{other}\" is not imported (polygon, rectangle)"));
                    continue;
                }
            };
            let mask = Mask::from_polygons(w, h, &[Polygon { points }]);
            if mask.area() == 0 {
                notes.push(format!("{at}: the shape covers no pixel"));
                continue;
            }
            labels.push(ImportedLabel { image_id, class: shape.label.clone(), mask });
        }
    }
    Ok((labels, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_yaml_names_in_the_three_forms() {
        assert_eq!(yolo_names("nc: 2\nnames: [cat, 'dog']\n").unwrap(), ["cat", "dog"]);
        assert_eq!(yolo_names("names:\n  - cat\n  - \"hot dog\"\n").unwrap(), ["cat", "hot dog"]);
        assert_eq!(yolo_names("# x\nnc: 2\nnames:\n  1: dog\n  0: cat\npath: .\n").unwrap(), ["cat", "dog"]);
        assert!(yolo_names("nc: 2\n").unwrap_err().contains("names"));
        assert!(yolo_names("names:\n  0: cat\n  2: dog\n").unwrap_err().contains("0, 1, 2"));
    }
}
