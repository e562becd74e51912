//! Masks, RLE, polygons and distances on small known shapes.

use super::*;

fn disc_with_hole() -> Mask {
    Mask::from_fn(40, 30, |x, y| {
        let d = ((x as f64 - 20.0).powi(2) + (y as f64 - 15.0).powi(2)).sqrt();
        (5.0..12.0).contains(&d)
    })
}

#[test]
fn rle_round_trip_and_known_string() {
    // A 3×2 mask, column-major: col0 = [0,1], col1 = [1,1], col2 = [0,0] → counts 1,3,2.
    let mask = Mask::from_bytes(3, 2, &[0, 1, 0, 1, 1, 0]).unwrap();
    let rle = mask.to_coco_rle();
    assert_eq!(rle.counts, vec![1, 3, 2]);
    assert_eq!(rle.to_compressed_string(), "132");
    assert_eq!(Mask::from_coco_rle(&rle).unwrap(), mask);
    let m = disc_with_hole();
    let s = m.to_coco_rle().to_compressed_string();
    let back = CocoRle::from_compressed_string(30, 40, &s).unwrap();
    assert_eq!(Mask::from_coco_rle(&back).unwrap(), m);
}

#[test]
fn rle_rejects_bad_input() {
    let bad_sum = CocoRle { height: 2, width: 2, counts: vec![1, 1] };
    assert!(matches!(Mask::from_coco_rle(&bad_sum), Err(MaskError::RleLength { .. })));
    assert!(CocoRle::from_compressed_string(2, 2, "1 ").is_err());
    assert!(CocoRle::from_compressed_string(2, 2, "P").is_err(), "dangling continuation");
    let json: Result<CocoRle, _> = serde_json::from_str(r#"{"size":[2,2],"counts":[1,-3]}"#);
    assert!(json.is_err());
}

#[test]
fn rle_json_matches_pycocotools_shape() {
    let mask = Mask::from_bytes(3, 2, &[0, 1, 0, 1, 1, 0]).unwrap();
    let json = serde_json::to_string(&mask.to_coco_rle()).unwrap();
    assert_eq!(json, r#"{"size":[2,3],"counts":"132"}"#);
    let plain: CocoRle = serde_json::from_str(r#"{"size":[2,3],"counts":[1,3,2]}"#).unwrap();
    assert_eq!(plain, mask.to_coco_rle());
}

#[test]
fn polygons_rasterise_back_exactly() {
    let m = disc_with_hole();
    let polys = m.polygons();
    assert_eq!(polys.len(), 2);
    assert_eq!(polys.iter().filter(|p| p.is_hole()).count(), 1);
    let area: f64 = polys.iter().map(Polygon::signed_area).sum();
    assert_eq!(area as u64, m.area());
    assert_eq!(Mask::from_polygons(40, 30, &polys), m);
}

#[test]
fn diagonal_pixels_make_one_ring_and_rasterise_back() {
    let m = Mask::from_bytes(3, 3, &[1, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
    let polys = m.polygons();
    assert_eq!(polys.len(), 1, "{polys:?}");
    assert_eq!(Mask::from_polygons(3, 3, &polys), m);
}

#[test]
fn simplification_keeps_shape() {
    let m = Mask::from_fn(200, 200, |x, y| ((x as f64 - 100.0).powi(2) + (y as f64 - 100.0).powi(2)) < 80.0f64.powi(2));
    let poly = &m.polygons()[0];
    let simple = poly.simplified(1.0);
    assert!(simple.points.len() < poly.points.len() / 2, "{} → {}", poly.points.len(), simple.points.len());
    let back = Mask::from_polygons(200, 200, std::slice::from_ref(&simple));
    assert!(back.iou(&m) > 0.98, "IoU {}", back.iou(&m));
}

#[test]
fn distance_transform_matches_brute_force() {
    let m = disc_with_hole();
    let dt = m.distance_to_outside();
    let (w, h) = (40i64, 30i64);
    for y in 0..h {
        for x in 0..w {
            let mut best = f64::MAX;
            for oy in -1..=h {
                for ox in -1..=w {
                    let outside = ox < 0 || oy < 0 || ox >= w || oy >= h || !m.get(ox as u32, oy as u32);
                    if outside {
                        best = best.min((((ox - x).pow(2) + (oy - y).pow(2)) as f64).sqrt());
                    }
                }
            }
            let got = f64::from(dt[(y * w + x) as usize]);
            assert!((got - best).abs() < 1e-3, "({x},{y}): {got} vs {best}");
        }
    }
}

#[test]
fn components_are_8_connected() {
    let m = Mask::from_bytes(4, 3, &[1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0]).unwrap();
    let (labels, areas) = m.components();
    assert_eq!(areas.len(), 3, "{labels:?}");
    assert_eq!(labels[0], labels[5]);
    assert_eq!(areas[1..].iter().sum::<u64>(), 4);
}

#[test]
fn bbox_and_area() {
    let m = Mask::from_fn(10, 8, |x, y| (2..5).contains(&x) && (3..7).contains(&y));
    assert_eq!(m.bbox(), Some([2, 3, 5, 7]));
    assert_eq!(m.area(), 12);
    assert_eq!(Mask::new(4, 4).bbox(), None);
}
