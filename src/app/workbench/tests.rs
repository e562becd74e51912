//! Workbench tests: clicks, boxes, undo/redo, brush strokes, merges, exports, and background work.

use super::*;

#[test]
fn click_undo_redo_and_refine() {
    let mut wb =
        Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
    let mug = crate::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").unwrap().1;
    wb.click(620.0, 480.0, PointLabel::Positive);
    assert!(wb.busy());
    assert!(wb.wait().is_empty());
    assert_eq!(wb.masks.len(), 1);
    assert!(wb.masks[0].mask.iou(&mug) > 0.9, "IoU {}", wb.masks[0].mask.iou(&mug));
    assert_eq!(wb.masks[0].engine, EngineKind::Classical);
    // A negative click refines the selected mask instead of adding one.
    wb.click(300.0, 520.0, PointLabel::Negative);
    wb.wait();
    assert_eq!(wb.masks.len(), 1);
    assert_eq!(wb.masks[0].points.len(), 2);
    assert!(wb.undo() && wb.masks[0].points.len() == 1);
    assert!(wb.undo() && wb.masks.is_empty());
    assert!(!wb.undo());
    assert!(wb.redo() && wb.masks.len() == 1);
    wb.delete(0);
    assert!(wb.masks.is_empty());
    assert!(wb.undo() && wb.masks.len() == 1);
}

#[test]
fn box_merge_paint_and_export() {
    let mut wb =
        Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
    let masks = crate::core::demo::still_life_masks();
    let mug = &masks.iter().find(|(n, _)| *n == "mug").unwrap().1;
    let [x0, y0, x1, y1] = mug.bbox().unwrap();
    wb.drag_box(BoxPrompt {
        x0_px: x0 as f32 - 4.0,
        y0_px: y0 as f32 - 4.0,
        x1_px: x1 as f32 + 4.0,
        y1_px: y1 as f32 + 4.0,
    });
    assert!(wb.wait().is_empty());
    assert!(wb.masks[0].mask.iou(mug) > 0.85, "box IoU {}", wb.masks[0].mask.iou(mug));
    // Text needs SAM 3: a readable error, no mask.
    wb.text("red ball");
    let failed = wb.wait();
    assert!(matches!(&failed[..], [Finished::Failed(_)]) && wb.masks.len() == 1);
    // Brush adds a disc, eraser removes it, one undo step per stroke.
    let area = wb.masks[0].mask.area();
    wb.begin_stroke();
    wb.paint(0, 100.0, 100.0, 10.0, true);
    assert!(wb.masks[0].mask.area() > area + 250);
    wb.begin_stroke();
    wb.paint(0, 100.0, 100.0, 10.0, false);
    assert_eq!(wb.masks[0].mask.area(), area);
    assert!(wb.undo() && wb.masks[0].mask.area() > area);
    assert!(wb.undo() && wb.masks[0].mask.area() == area);
    // Merge two masks into one.
    wb.click(300.0, 520.0, PointLabel::Positive);
    wb.wait();
    assert_eq!(wb.masks.len(), 2);
    let total = wb.masks[0].mask.area() + wb.masks[1].mask.area();
    wb.merge(0, 1);
    assert_eq!(wb.masks.len(), 1);
    assert_eq!(wb.masks[0].mask.area(), total);
    assert!(wb.undo() && wb.masks.len() == 2);
    // Exports: PNG, COCO RLE, polygons.
    let dir = tempfile::tempdir().unwrap();
    for name in ["m.png", "m.json", "m.polygons.json"] {
        wb.export(0, &dir.path().join(name), "still_life.jpg").unwrap();
        assert!(dir.path().join(name).metadata().unwrap().len() > 50);
    }
    let back = Mask::load_png(dir.path().join("m.png")).unwrap();
    assert_eq!(back.iou(&wb.masks[0].mask), 1.0);
    assert!(matches!(wb.export(0, &dir.path().join("m.txt"), "x"), Err(ExportError::UnknownFormat { .. })));
    assert!(matches!(wb.export(7, &dir.path().join("m.png"), "x"), Err(ExportError::NoSuchMask(7))));
}

/// A model engine whose photo preparation takes until the test says so.
struct SlowModel(std::sync::mpsc::Receiver<()>);

impl Segmenter for SlowModel {
    fn engine(&self) -> EngineKind {
        EngineKind::Sam3
    }
    fn set_image(&mut self, _image: &Image, _progress: &Progress) -> Result<(), SegmentError> {
        let _ = self.0.recv_timeout(std::time::Duration::from_secs(30));
        Ok(())
    }
    fn segment(&mut self, _prompt: &Prompt, _previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        Ok(Vec::new())
    }
}

#[test]
fn the_classical_engine_answers_while_the_model_prepares() {
    let (release, rx) = std::sync::mpsc::channel();
    let mut wb = Workbench::new(crate::core::demo::still_life(), Box::new(SlowModel(rx)));
    assert!(wb.busy(), "the model starts preparing the photo at once");
    // Asking which engine answers must not wait for the busy model (the UI asks every frame).
    assert_eq!(wb.engine(), Some(EngineKind::Sam3));
    std::thread::sleep(std::time::Duration::from_millis(50));
    wb.click(620.0, 480.0, PointLabel::Positive);
    // The click is answered while the model is still busy.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while wb.masks.is_empty() {
        wb.poll();
        assert!(std::time::Instant::now() < deadline, "no answer while the model prepares");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(wb.masks[0].engine, EngineKind::Classical);
    assert!(wb.busy(), "the model is still preparing");
    release.send(()).unwrap();
    wb.wait();
    assert!(!wb.busy());
}

#[test]
fn lift_runs_in_the_background_and_errors_are_reported() {
    let mut wb =
        Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
    assert!(matches!(wb.lift_selected(), Err(LiftStartError::NothingSelected)));
    wb.click(5000.0, 10.0, PointLabel::Positive);
    let finished = wb.wait();
    assert!(
        matches!(&finished[..], [Finished::Failed(m)] if m.contains("outside")),
        "a bad click is an error, not a crash"
    );
    wb.click(300.0, 520.0, PointLabel::Positive);
    wb.wait();
    wb.lift_selected().unwrap();
    let finished = wb.wait();
    let [Finished::Lifted { output, .. }] = &finished[..] else { panic!("no lift") };
    assert!(output.splats.len() > 1000);
}

#[test]
fn restore_round_trips_and_refuses_masks_of_another_size() {
    let mut wb =
        Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
    wb.click(620.0, 480.0, PointLabel::Positive);
    wb.wait();
    let saved = wb.project_masks();
    let mut other =
        Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
    other.restore(&saved, Some(0)).unwrap();
    assert_eq!(other.masks[0].mask, wb.masks[0].mask);
    assert_eq!(other.selected, Some(0));
    assert!(!other.undo(), "history starts afresh");
    let small = Image::from_rgb(image::RgbImage::new(8, 8));
    let mut small = Workbench::new(small, Box::new(crate::segment::ClassicalSegmenter::default()));
    let err = small.restore(&saved, None).unwrap_err();
    assert!(matches!(err, RestoreError::SizeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("the photo 8×8"), "{err}");
}
