//! Mask exports: COCO JSON with RLE segmentations (loads in pycocotools) and polygon JSON
//! (simplified contours, holes kept). Both written atomically.

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
