//! Unit tests of the classical engine on the demo still life.

use super::*;
use crate::core::prompt::PointPrompt;

fn prepared(image: &Image) -> ClassicalSegmenter {
    let mut seg = ClassicalSegmenter::default();
    seg.set_image(image, &Progress::new()).unwrap();
    seg
}

#[test]
fn box_on_the_demo_ball_finds_the_ball() {
    let image = crate::core::demo::still_life();
    let masks = crate::core::demo::still_life_masks();
    let mut seg = prepared(&image);
    for (name, truth) in &masks {
        let [x0, y0, x1, y1] = truth.bbox().unwrap();
        let bbox = BoxPrompt {
            x0_px: x0 as f32 - 5.0,
            y0_px: y0 as f32 - 5.0,
            x1_px: x1 as f32 + 5.0,
            y1_px: y1 as f32 + 5.0,
        };
        let prompt = Prompt { bbox: Some(bbox), ..Default::default() };
        let out = seg.segment(&prompt, None).unwrap();
        let iou = out[0].mask.iou(truth);
        assert!(iou > 0.9, "{name}: IoU {iou:.3}");
    }
}

#[test]
fn one_click_on_the_mug_finds_the_mug() {
    let image = crate::core::demo::still_life();
    let truth = &crate::core::demo::still_life_masks()[1].1;
    let mut seg = prepared(&image);
    let prompt = Prompt {
        points: vec![PointPrompt { x_px: 620.0, y_px: 480.0, label: PointLabel::Positive }],
        ..Default::default()
    };
    let out = seg.segment(&prompt, None).unwrap();
    let iou = out[0].mask.iou(truth);
    assert!(iou > 0.8, "IoU {iou:.3}");
}

#[test]
fn text_needs_a_model_and_bad_prompts_are_errors() {
    let image = crate::core::demo::still_life();
    let mut seg = prepared(&image);
    let text = Prompt { text: Some("red ball".into()), ..Default::default() };
    let err = seg.segment(&text, None).unwrap_err().to_string();
    assert!(err.contains("SAM 3 model folder") && err.contains("export_sam3.py"), "{err}");
    let outside = Prompt {
        points: vec![PointPrompt { x_px: 5000.0, y_px: 1.0, label: PointLabel::Positive }],
        ..Default::default()
    };
    assert!(seg.segment(&outside, None).is_err());
    assert!(ClassicalSegmenter::default().segment(&outside, None).is_err());
}

/// A box of a few pixels on a one-colour photo and a whole-photo box on an all-black one: the
/// "found nothing" error, never an empty mask reported as a result; a click on a flat photo gives
/// at least the clicked spot.
#[test]
fn flat_photos_and_tiny_boxes_are_errors_or_honest_masks() {
    for rgb in [[0u8, 0, 0], [200, 30, 30]] {
        let flat = Image::from_rgb(image::RgbImage::from_pixel(320, 240, image::Rgb(rgb)));
        let mut seg = prepared(&flat);
        let boxes = [[100.0, 100.0, 103.0, 102.0], [0.0, 0.0, 320.0, 240.0]];
        for [x0_px, y0_px, x1_px, y1_px] in boxes {
            let prompt = Prompt { bbox: Some(BoxPrompt { x0_px, y0_px, x1_px, y1_px }), ..Default::default() };
            match seg.segment(&prompt, None) {
                Ok(masks) => assert!(masks.iter().all(|m| m.mask.area() > 0), "{rgb:?}: empty mask as a result"),
                Err(e) => assert!(matches!(e, SegmentError::NothingFound { engine: "classical" }), "{e}"),
            }
        }
        let click = Prompt {
            points: vec![PointPrompt { x_px: 100.0, y_px: 100.0, label: PointLabel::Positive }],
            ..Default::default()
        };
        let masks = seg.segment(&click, None).unwrap();
        assert!(masks[0].mask.get(100, 100), "{rgb:?}: the clicked pixel is not in the mask");
    }
}
