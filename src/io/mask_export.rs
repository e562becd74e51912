//! Mask exports: COCO JSON with RLE segmentations (loads in pycocotools), polygon JSON
//! (simplified contours, holes kept), YOLO-seg label files with `data.yaml`, and labelme JSON
//! (outer contours: neither format holds holes). All written atomically.

use std::path::Path;

use serde::Serialize;

use crate::core::fs::{FileError, write_atomic};
use crate::core::mask::Mask;

/// One mask to export, with what is known about it.
pub struct ExportMask<'a> {
    pub mask: &'a Mask,
    pub score: f32,
    /// Category name (the text prompt), or `None` for "object".
    pub label: Option<&'a str>,
    pub engine: &'a str,
}

/// One image's masks.
pub struct ExportImage<'a> {
    pub file_name: &'a str,
    pub width: u32,
    pub height: u32,
    pub masks: Vec<ExportMask<'a>>,
}

#[derive(Serialize)]
struct CocoImage<'a> {
    id: u64,
    file_name: &'a str,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct CocoAnnotation {
    id: u64,
    image_id: u64,
    category_id: u64,
    segmentation: crate::core::mask::CocoRle,
    area: u64,
    /// `[x, y, width, height]` in pixels.
    bbox: [f64; 4],
    iscrowd: u8,
    score: f32,
    engine: String,
}

#[derive(Serialize)]
struct CocoCategory {
    id: u64,
    name: String,
}

/// The COCO document for `images` as a JSON value (one annotation per mask; categories from the
/// labels, "object" when there is none).
pub fn coco_json(images: &[ExportImage<'_>]) -> serde_json::Value {
    let mut categories: Vec<String> = Vec::new();
    let mut coco_images = Vec::new();
    let mut annotations = Vec::new();
    for (image_index, image) in images.iter().enumerate() {
        let image_id = image_index as u64 + 1;
        coco_images.push(CocoImage {
            id: image_id,
            file_name: image.file_name,
            width: image.width,
            height: image.height,
        });
        for m in &image.masks {
            let name = m.label.unwrap_or("object").to_owned();
            let category_id = match categories.iter().position(|c| *c == name) {
                Some(i) => i as u64 + 1,
                None => {
                    categories.push(name);
                    categories.len() as u64
                }
            };
            let bbox = m.mask.bbox().map_or([0.0; 4], |[x0, y0, x1, y1]| {
                [f64::from(x0), f64::from(y0), f64::from(x1 - x0), f64::from(y1 - y0)]
            });
            annotations.push(CocoAnnotation {
                id: annotations.len() as u64 + 1,
                image_id,
                category_id,
                segmentation: m.mask.to_coco_rle(),
                area: m.mask.area(),
                bbox,
                iscrowd: 0,
                score: m.score,
                engine: m.engine.to_owned(),
            });
        }
    }
    let categories: Vec<CocoCategory> =
        categories.into_iter().enumerate().map(|(i, name)| CocoCategory { id: i as u64 + 1, name }).collect();
    serde_json::json!({
        "info": {"description": "masks exported by Carve", "version": env!("CARGO_PKG_VERSION")},
        "images": coco_images,
        "annotations": annotations,
        "categories": categories,
    })
}

/// Writes a COCO JSON file.
pub fn write_coco(path: &Path, images: &[ExportImage<'_>]) -> Result<(), FileError> {
    let bytes = serde_json::to_vec_pretty(&coco_json(images))
        .map_err(|e| FileError { path: path.to_owned(), source: e.into() })?;
    write_atomic(path, &bytes)
}

/// Polygon tolerance of exports, in pixels (Douglas–Peucker).
pub const POLYGON_TOLERANCE_PX: f64 = 0.75;

/// The polygon document: per mask, its rings (outer and holes) as `[[x, y], …]`.
pub fn polygons_json(image: &ExportImage<'_>) -> serde_json::Value {
    let masks: Vec<serde_json::Value> = image
        .masks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let rings: Vec<serde_json::Value> = m
                .mask
                .polygons()
                .iter()
                .map(|p| {
                    let simple = p.simplified(POLYGON_TOLERANCE_PX);
                    serde_json::json!({"hole": p.is_hole(), "points": simple.points})
                })
                .collect();
            serde_json::json!({
                "id": i + 1, "label": m.label, "score": m.score, "engine": m.engine,
                "area": m.mask.area(), "rings": rings,
            })
        })
        .collect();
    serde_json::json!({
        "image": {"file_name": image.file_name, "width": image.width, "height": image.height},
        "coordinates": "pixels, origin at the top-left image corner, x right, y down; holes run counter-clockwise",
        "masks": masks,
    })
}

/// Writes a polygon JSON file.
pub fn write_polygons(path: &Path, image: &ExportImage<'_>) -> Result<(), FileError> {
    let bytes = serde_json::to_vec_pretty(&polygons_json(image))
        .map_err(|e| FileError { path: path.to_owned(), source: e.into() })?;
    write_atomic(path, &bytes)
}

/// The outer rings of a mask, simplified, as YOLO-seg and labelme store instances (neither holds
/// holes: a mask with holes loses them there; COCO RLE and the polygon JSON keep them).
fn outer_rings(mask: &Mask) -> Vec<crate::core::mask::Polygon> {
    mask.polygons().into_iter().filter(|p| !p.is_hole()).map(|p| p.simplified(POLYGON_TOLERANCE_PX)).collect()
}

/// The class list of `images`' masks in first-seen order ("object" for a mask without a label).
pub fn class_names(images: &[ExportImage<'_>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in images.iter().flat_map(|i| &i.masks) {
        let name = m.label.unwrap_or("object");
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// One image's YOLO-seg label file (Ultralytics format): a line per outer ring,
/// `class x1 y1 x2 y2 …` with coordinates normalised to 0..1 by the image size; `classes` maps
/// labels to ids (see [`class_names`]).
pub fn yolo_seg_text(image: &ExportImage<'_>, classes: &[String]) -> String {
    let mut text = String::new();
    for m in &image.masks {
        let class = classes.iter().position(|c| c == m.label.unwrap_or("object")).unwrap_or(0);
        for ring in outer_rings(m.mask) {
            text.push_str(&class.to_string());
            for [x, y] in &ring.points {
                let (u, v) = (x / f64::from(image.width), y / f64::from(image.height));
                text.push_str(&format!(" {:.6} {:.6}", u.clamp(0.0, 1.0), v.clamp(0.0, 1.0)));
            }
            text.push('\n');
        }
    }
    text
}

/// The `data.yaml` of a YOLO-seg dataset with these classes (ids in list order).
pub fn yolo_data_yaml(classes: &[String]) -> String {
    let mut text = format!("# written by Carve\nnc: {}\nnames:\n", classes.len());
    for (i, c) in classes.iter().enumerate() {
        text.push_str(&format!("  {i}: {}\n", serde_json::Value::String(c.clone())));
    }
    text
}

/// One image's labelme JSON: a polygon shape per outer ring, `imagePath` the image's file name.
pub fn labelme_json(image: &ExportImage<'_>) -> serde_json::Value {
    let shapes: Vec<serde_json::Value> = image
        .masks
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            outer_rings(m.mask).into_iter().map(move |ring| {
                serde_json::json!({
                    "label": m.label.unwrap_or("object"),
                    "points": ring.points,
                    "group_id": i + 1,
                    "description": format!("{} score {:.3}", m.engine, m.score),
                    "shape_type": "polygon",
                    "flags": {},
                })
            })
        })
        .collect();
    serde_json::json!({
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image.file_name,
        "imageData": null,
        "imageHeight": image.height,
        "imageWidth": image.width,
    })
}

/// Writes a text or JSON export atomically.
pub fn write_text(path: &Path, text: &str) -> Result<(), FileError> {
    write_atomic(path, text.as_bytes())
}

/// Writes a labelme JSON file.
pub fn write_labelme(path: &Path, image: &ExportImage<'_>) -> Result<(), FileError> {
    let bytes = serde_json::to_vec_pretty(&labelme_json(image))
        .map_err(|e| FileError { path: path.to_owned(), source: e.into() })?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_has_one_annotation_per_mask_and_categories_from_labels() {
        let a = Mask::from_fn(10, 8, |x, y| x < 4 && y < 3);
        let b = Mask::from_fn(10, 8, |x, _| x > 6);
        let image = ExportImage {
            file_name: "x.png",
            width: 10,
            height: 8,
            masks: vec![
                ExportMask { mask: &a, score: 0.9, label: Some("cat"), engine: "sam3" },
                ExportMask { mask: &b, score: 0.5, label: None, engine: "classical" },
            ],
        };
        let json = coco_json(&[image]);
        assert_eq!(json["annotations"].as_array().unwrap().len(), 2);
        assert_eq!(json["annotations"][0]["bbox"], serde_json::json!([0.0, 0.0, 4.0, 3.0]));
        assert_eq!(json["annotations"][0]["area"], 12);
        assert_eq!(json["categories"][0]["name"], "cat");
        assert_eq!(json["categories"][1]["name"], "object");
    }
}
