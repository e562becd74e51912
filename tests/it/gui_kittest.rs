//! The workbench window driven by egui_kittest on the software Vulkan driver (lavapipe): the real
//! `CarveApp` with its wgpu 3D viewport, clicks and keys sent as egui events, pixels read back
//! from the rendered frame. Snapshots live in `tests/snapshots/`.

use std::time::{Duration, Instant};

use carve::app::bodies::MeshCounts;
use carve::app::{CarveApp, SideTab, StartImage};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const SIZE: egui::Vec2 = egui::vec2(1280.0, 820.0);

fn harness() -> Harness<'static, CarveApp> {
    Harness::builder().with_size(SIZE).wgpu().with_max_steps(10_000).build_eframe(|_cc| CarveApp::new(StartImage::Demo))
}

/// Steps until no background task runs (timing each step), then a few more frames.
fn wait_idle(h: &mut Harness<'static, CarveApp>, step_ms: &mut Vec<f64>) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let t0 = Instant::now();
        h.step();
        step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let app = h.state();
        if !app.workbench.busy() && !app.bodies.busy() {
            break;
        }
        assert!(Instant::now() < deadline, "background task did not finish");
        std::thread::sleep(Duration::from_millis(15));
    }
    h.run_steps(4);
}

fn click_at(h: &mut Harness<'static, CarveApp>, pos: egui::Pos2) {
    h.hover_at(pos);
    h.step();
    h.drag_at(pos);
    h.step();
    h.drop_at(pos);
    h.step();
}

/// A point well inside the demo's mug, in screen points.
fn mug_on_screen(app: &CarveApp) -> (egui::Pos2, carve::Mask) {
    let (_, mug) = carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").expect("mug mask");
    let d = mug.distance_to_outside();
    let (i, _) = d.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("pixels");
    let (x, y) = ((i as u32 % mug.width()) as f32 + 0.5, (i as u32 / mug.width()) as f32 + 0.5);
    let rect = app.photo_rect().expect("the photo is drawn");
    let pos = egui::pos2(
        rect.min.x + x / mug.width() as f32 * rect.width(),
        rect.min.y + y / mug.height() as f32 * rect.height(),
    );
    (pos, mug)
}

/// Mean red minus blue over the mug's pixels on screen (the first mask colour is red; the mug is
/// blue), and the mean over a rectangle of the frame.
fn mug_redness(img: &image::RgbaImage, app: &CarveApp, mug: &carve::Mask) -> f64 {
    let rect = app.photo_rect().expect("photo");
    let (mut sum, mut n) = (0.0f64, 0.0f64);
    for y in (0..mug.height()).step_by(3) {
        for x in (0..mug.width()).step_by(3) {
            if mug.get(x, y) {
                let sx = rect.min.x + (x as f32 + 0.5) / mug.width() as f32 * rect.width();
                let sy = rect.min.y + (y as f32 + 0.5) / mug.height() as f32 * rect.height();
                let p = img.get_pixel(sx as u32, sy as u32).0;
                sum += p[0] as f64 - p[2] as f64;
                n += 1.0;
            }
        }
    }
    sum / n.max(1.0)
}

fn region_stats(img: &image::RgbaImage, rect: egui::Rect) -> Vec<[u8; 3]> {
    let mut v = Vec::new();
    for y in (rect.min.y as u32..rect.max.y as u32).step_by(2) {
        for x in (rect.min.x as u32..rect.max.x as u32).step_by(2) {
            if x < img.width() && y < img.height() {
                let p = img.get_pixel(x, y).0;
                v.push([p[0], p[1], p[2]]);
            }
        }
    }
    v
}

#[test]
fn click_undo_redo_lift() {
    let mut h = harness();
    h.run_steps(5);
    h.snapshot("workbench_demo");
    let (pos, mug) = mug_on_screen(h.state());
    let before = mug_redness(&h.render().expect("render"), h.state(), &mug);
    // Click on the mug: a mask appears in the list and on the canvas.
    let mut step_ms = Vec::new();
    click_at(&mut h, pos);
    wait_idle(&mut h, &mut step_ms);
    assert_eq!(h.state().workbench.masks.len(), 1, "one mask after the click");
    let name = h.state().workbench.masks[0].name.clone();
    let _ = h.get_by_label(&name);
    let iou = h.state().workbench.masks[0].mask.iou(&mug);
    assert!(iou > 0.8, "the mask covers the mug: IoU {iou:.3}");
    let with_mask = mug_redness(&h.render().expect("render"), h.state(), &mug);
    assert!(with_mask > before + 40.0, "overlay on the mug: red−blue {before:.1} → {with_mask:.1}");
    h.snapshot("workbench_mask");
    // Undo removes it, redo restores it.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(3);
    assert!(h.state().workbench.masks.is_empty(), "undo removes the mask");
    assert!(h.query_by_label(&name).is_none());
    let undone = mug_redness(&h.render().expect("render"), h.state(), &mug);
    assert!((undone - before).abs() < 5.0, "canvas back to the photo: {undone:.1} vs {before:.1}");
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    h.run_steps(3);
    assert_eq!(h.state().workbench.masks.len(), 1, "redo restores the mask");
    let redone = mug_redness(&h.render().expect("render"), h.state(), &mug);
    assert!((redone - with_mask).abs() < 5.0);
    // Lift: the viewport (right half) shows the splats.
    h.state_mut().workbench.selected = Some(0);
    h.run_steps(2);
    let viewport = egui::Rect::from_min_max(
        egui::pos2(h.state().photo_rect().expect("photo").max.x + 20.0, 60.0),
        egui::pos2(1270.0, 780.0),
    );
    let before_lift = region_stats(&h.render().expect("render"), viewport);
    h.get_by_label("Lift selected to 3D").click();
    // While the lift runs: time each UI frame (CPU side) and, every 4th, a full render of the
    // window on lavapipe (UI + 3D viewport, software GPU).
    let (mut lift_steps, mut render_ms) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut k = 0;
    loop {
        let t0 = Instant::now();
        h.step();
        lift_steps.push(t0.elapsed().as_secs_f64() * 1e3);
        if k % 4 == 0 {
            let t0 = Instant::now();
            let _ = h.render();
            render_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        k += 1;
        if k > 2 && !h.state().workbench.busy() {
            break;
        }
        assert!(Instant::now() < deadline, "the lift did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(4);
    let after_lift = region_stats(&h.render().expect("render"), viewport);
    let changed = before_lift
        .iter()
        .zip(&after_lift)
        .filter(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (*x as i32 - *y as i32).abs()).sum::<i32>() > 40)
        .count();
    // The mug is blue: the lifted view has far more strongly blue pixels.
    let blue = |v: &[[u8; 3]]| v.iter().filter(|p| p[2] as i32 > p[0] as i32 + 40 && p[2] > 90).count();
    eprintln!(
        "lift: {changed} of {} viewport samples changed; blue samples {} → {}",
        after_lift.len(),
        blue(&before_lift),
        blue(&after_lift)
    );
    assert!(changed > 2_000, "the viewport changed after the lift");
    assert!(blue(&after_lift) > blue(&before_lift) + 300, "blue splats of the mug in the viewport");
    // Layers: voxels on, splats off — the view changes again; the exports are offered.
    h.get_by_label("voxels").click();
    h.get_by_label("splats").click();
    h.run_steps(3);
    let voxels = region_stats(&h.render().expect("render"), viewport);
    let changed = voxels.iter().zip(&after_lift).filter(|(a, b)| a != b).count();
    assert!(changed > 500, "toggling layers changes the view ({changed})");
    let _ = h.get_by_label("Export PLY…");
    let _ = h.get_by_label("Export GLB…");
    // Frame time while the lift ran in the background (CPU side of each frame).
    for (what, v) in [("UI frame (CPU)", &mut lift_steps), ("full render (lavapipe)", &mut render_ms)] {
        v.sort_by(f64::total_cmp);
        if !v.is_empty() {
            eprintln!(
                "{what} during the lift: {} samples, median {:.1} ms, 95th percentile {:.1} ms, max {:.1} ms",
                v.len(),
                v[v.len() / 2],
                v[v.len() * 95 / 100],
                v[v.len() - 1]
            );
        }
    }
}

#[test]
fn lod_switch_changes_the_displayed_counts() {
    let mut h = harness();
    h.run_steps(3);
    h.get_by_label("Bodies").click();
    h.run_steps(2);
    assert!(h.state().side_tab() == SideTab::Bodies);
    h.get_by_label("Demo body").click();
    let mut steps = Vec::new();
    wait_idle(&mut h, &mut steps);
    let _ = h.get_by_label("LOD 1: 18439 vertices · 36874 triangles");
    h.get_by_label("LOD 4").click();
    h.run_steps(3);
    let _ = h.get_by_label("LOD 4: 2461 vertices · 4918 triangles");
    assert!(h.query_by_label_contains("18439 vertices").is_none());
    h.get_by_label("LOD 0").click();
    h.run_steps(3);
    let _ = h.get_by_label("LOD 0: 73639 vertices · 147274 triangles");
    h.snapshot("workbench_body_lod0");
}

#[test]
fn failing_model_load_shows_an_error_and_keeps_masks() {
    let mut h = harness();
    h.run_steps(3);
    let (pos, _) = mug_on_screen(h.state());
    let mut steps = Vec::new();
    click_at(&mut h, pos);
    wait_idle(&mut h, &mut steps);
    assert_eq!(h.state().workbench.masks.len(), 1);
    // A model folder whose manifest is missing, with the SAM 3 engine.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("image_encoder.pt"), b"not a model").unwrap();
    h.get_by_label("SAM 3").click();
    h.state_mut().set_model_folder(dir.path().display().to_string());
    h.run_steps(2);
    h.get_by_label("Load").click();
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().toasts().iter().all(|t| !t.is_error) {
        h.step();
        assert!(Instant::now() < deadline, "no error toast");
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
    let toast = h.get_by_label_contains("model not loaded");
    let text = toast.value().unwrap_or_default();
    let label = format!("{text} {:?}", h.state().toasts());
    assert!(label.contains(&dir.path().display().to_string()), "the error names the folder: {label}");
    assert_eq!(h.state().workbench.masks.len(), 1, "the mask survives the failed load");
    assert_eq!(h.state().workbench.engine(), Some(carve::segment::EngineKind::Classical));
}

/// A window with the autosave at `autosave`, the mug clicked, and the autosave holding its mask.
fn mug_masked_and_autosaved(autosave: &std::path::Path) -> (Harness<'static, CarveApp>, carve::Mask) {
    let mut h = harness();
    h.state_mut().set_autosave_path(Some(autosave.to_owned()));
    h.run_steps(3);
    let (pos, _) = mug_on_screen(h.state());
    let mut steps = Vec::new();
    click_at(&mut h, pos);
    wait_idle(&mut h, &mut steps);
    let mask = h.state().workbench.masks[0].mask.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while carve::io::project::Project::load(autosave).map(|p| p.masks.len()).unwrap_or(0) != 1 {
        h.step();
        assert!(Instant::now() < deadline, "no autosave");
        std::thread::sleep(Duration::from_millis(100));
    }
    (h, mask)
}

#[test]
fn autosave_survives_a_crash_and_projects_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let autosave = dir.path().join("autosave.carve");
    // The autosave follows the edit without any user action.
    let (mut h, mask) = mug_masked_and_autosaved(&autosave);
    let mut steps = Vec::new();
    // A body too.
    h.get_by_label("Bodies").click();
    h.run_steps(2);
    h.get_by_label("Demo body").click();
    wait_idle(&mut h, &mut steps);
    h.get_by_label("LOD 3").click();
    h.run_steps(2);
    let project = dir.path().join("p.carve");
    h.state_mut().save_project(&project);
    // "Crash": the window goes away; a new one recovers the session.
    drop(h);
    let mut h = harness();
    h.state_mut().set_autosave_path(None);
    h.run_steps(2);
    assert!(h.state().workbench.masks.is_empty());
    h.state_mut().open_project(&autosave);
    h.run_steps(3);
    assert_eq!(h.state().workbench.masks.len(), 1, "the autosave brings the mask back");
    assert_eq!(h.state().workbench.masks[0].mask, mask);
    h.state_mut().open_project(&project);
    h.run_steps(3);
    assert_eq!(h.state().workbench.masks.len(), 1);
    assert_eq!(h.state().bodies.lod, 3);
    assert_eq!(h.state().bodies.counts(), Some(MeshCounts { vertices: 4_899, triangles: 9_794 }));
    // A broken project is an error toast; what is open stays.
    std::fs::write(&project, b"{ not json").unwrap();
    h.state_mut().open_project(&project);
    h.run_steps(3);
    assert!(h.state().toasts().iter().any(|t| t.is_error && t.text.contains("p.carve")), "{:?}", h.state().toasts());
    assert_eq!(h.state().workbench.masks.len(), 1);
}

/// Screen position of image pixel `(x, y)`.
fn to_screen(app: &CarveApp, x: f32, y: f32) -> egui::Pos2 {
    let rect = app.photo_rect().expect("photo");
    let (w, h) = (app.workbench.image.width() as f32, app.workbench.image.height() as f32);
    egui::pos2(rect.min.x + x / w * rect.width(), rect.min.y + y / h * rect.height())
}

fn drag(h: &mut Harness<'static, CarveApp>, from: egui::Pos2, to: egui::Pos2) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for k in 1..=8 {
        h.hover_at(from + (to - from) * (k as f32 / 8.0));
        h.step();
    }
    h.drop_at(to);
    h.step();
}

#[test]
fn box_drag_and_brush_strokes() {
    let mut h = harness();
    h.run_steps(3);
    let masks = carve::core::demo::still_life_masks();
    let ball = &masks.iter().find(|(n, _)| *n == "ball").expect("ball").1;
    let [x0, y0, x1, y1] = ball.bbox().expect("ball box");
    let (a, b) = (
        to_screen(h.state(), x0 as f32 - 6.0, y0 as f32 - 6.0),
        to_screen(h.state(), x1 as f32 + 6.0, y1 as f32 + 6.0),
    );
    drag(&mut h, a, b);
    let mut steps = Vec::new();
    wait_idle(&mut h, &mut steps);
    assert_eq!(h.state().workbench.masks.len(), 1, "a box drag makes one mask");
    let iou = h.state().workbench.masks[0].mask.iou(ball);
    assert!(iou > 0.85, "box → ball IoU {iou:.3}");
    // Brush (R): a stroke across empty table adds pixels; Ctrl+Z takes the stroke back.
    h.key_press(egui::Key::R);
    h.run_steps(2);
    assert_eq!(h.state().tool(), carve::app::Tool::Brush);
    let before = h.state().workbench.masks[0].mask.area();
    let (a, b) = (to_screen(h.state(), 560.0, 700.0), to_screen(h.state(), 760.0, 700.0));
    drag(&mut h, a, b);
    let painted = h.state().workbench.masks[0].mask.area();
    assert!(painted > before + 2_000, "brush stroke: {before} → {painted}");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().workbench.masks[0].mask.area(), before, "one undo per stroke");
    // Eraser (E) removes from the mask.
    h.key_press(egui::Key::E);
    h.run_steps(2);
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    let (a, b) = (to_screen(h.state(), cx - 40.0, cy), to_screen(h.state(), cx + 40.0, cy));
    drag(&mut h, a, b);
    assert!(h.state().workbench.masks[0].mask.area() + 1_000 < before, "eraser stroke removes pixels");
}

/// Hostile files dropped on the window (a FIFO, `/dev/zero`, corpus files that once panicked or
/// hung the readers, projects listing themselves or each other): each is one error toast naming
/// it, the window stays up, the mask stays, and the autosave still holds the mask.
#[test]
#[allow(unsafe_code)]
fn hostile_files_dropped_on_the_window_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let autosave = dir.path().join("autosave.carve");
    let (mut h, mask) = mug_masked_and_autosaved(&autosave);

    let corpus = crate::common::repo_root().join("tests/data/malformed");
    let fifo = dir.path().join("pipe.png");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let zero = dir.path().join("zero.jpg");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    // A project whose photo is /dev/zero.
    let zero_photo = dir.path().join("zero_photo.carve");
    let project = serde_json::json!({"format": "carve-project", "version": 1, "image": "/dev/zero", "masks": []});
    std::fs::write(&zero_photo, project.to_string()).unwrap();
    let mut hostile = vec![fifo, zero, zero_photo];
    for name in [
        "image/png_100k_square.png",
        "image/jpeg_only_soi.jpg",
        "gltf/instance_bomb.glb",
        "gltf/node_cycle.glb",
        "gltf/pos_missing_accessor.glb",
        "gltf/uri_escape_00/scene.gltf",
        "ply/face_two_vertices.ply",
        "ply/element_no_props_huge_bin.ply",
        "project/self_listing.carve",
        "project/pair_a.carve",
    ] {
        hostile.push(corpus.join(name));
    }
    for path in &hostile {
        let before = h.state().toasts().len();
        h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path.clone())));
        h.run_steps(3);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let toasts = h.state().toasts();
        assert!(
            toasts.iter().skip(before).any(|t| t.is_error && t.text.contains(&name)),
            "no error naming {name}: {toasts:?}"
        );
        assert_eq!(h.state().workbench.masks.len(), 1, "{name} cost the mask");
        assert_eq!(h.state().workbench.masks[0].mask, mask);
    }
    // Past the autosave interval: what is on disk is still the mask, not a broken state.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        h.step();
        std::thread::sleep(Duration::from_millis(100));
    }
    let saved = carve::io::project::Project::load(&autosave).unwrap();
    assert_eq!(saved.masks.len(), 1);
    assert_eq!(saved.masks[0].decode().unwrap(), mask);
}

/// A file dropped on the window, as an integration hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("Carve opens dropped files by path".into())
    }
}

/// "Lift all" (issue 14): two clicked masks become one scene in the background; the panel names
/// the scene and each object's splats reach the 3D view; opening another photo forgets it.
#[test]
fn lift_all_makes_one_scene_of_every_mask() {
    let mut h = harness();
    h.run_steps(3);
    let mut steps = Vec::new();
    for name in ["mug", "ball"] {
        let (_, mask) = carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == name).expect("mask");
        let d = mask.distance_to_outside();
        let (i, _) = d.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("pixels");
        let (x, y) = ((i as u32 % mask.width()) as f32 + 0.5, (i as u32 / mask.width()) as f32 + 0.5);
        let pos = to_screen(h.state(), x, y);
        click_at(&mut h, pos);
        wait_idle(&mut h, &mut steps);
    }
    assert_eq!(h.state().workbench.masks.len(), 2);
    h.get_by_label("Lift all").click();
    h.step();
    assert!(h.state().workbench.busy(), "the scene lift runs in the background");
    wait_idle(&mut h, &mut steps);
    h.run_steps(3);
    let _ = h.get_by_label_contains("3D: scene of 2 objects");
    let scene = h.state().lift.scene.as_ref().expect("a scene");
    assert_eq!(scene.objects.len(), 2);
    assert!(scene.objects.iter().all(|o| !o.output.splats.is_empty()));
}

/// The centre (deepest pixel) of a demo object's mask, in image pixels, mirrored when `flip`.
fn object_centre(name: &str, flip: bool) -> (f32, f32, carve::Mask) {
    let (_, mask) = carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == name).expect("mask");
    let d = mask.distance_to_outside();
    let (i, _) = d.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("pixels");
    let (x, y) = ((i as u32 % mask.width()) as f32 + 0.5, (i as u32 / mask.width()) as f32 + 0.5);
    let x = if flip { mask.width() as f32 - x } else { x };
    (x, y, mask)
}

fn press(h: &mut Harness<'static, CarveApp>, key: egui::Key) {
    h.key_press(key);
    h.run_steps(2);
}

/// The masks of the photo shown: (class, pre-label, mask).
fn shown_masks(app: &CarveApp) -> Vec<(String, bool, carve::Mask)> {
    app.workbench.masks.iter().map(|m| (m.label.clone().unwrap_or_default(), m.prelabel, m.mask.clone())).collect()
}

/// Issue 15: a folder dropped on the window opens as a dataset; two photos labelled with classes
/// (a click, then the class key 1/2; a new mask takes the class used last, changed with a key),
/// back and forth with A/D, the window closed
/// and a new one opened on the folder: every mask is there with its class, and `dataset.json`
/// (read back by the library's validating reader) holds them as human labels.
#[test]
fn folder_labelling_survives_quit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let demo = carve::core::demo::still_life();
    let flipped = image::imageops::flip_horizontal(demo.rgb());
    demo.rgb().save(dir.path().join("a.png")).unwrap();
    flipped.save(dir.path().join("b.png")).unwrap();
    demo.rgb().save(dir.path().join("c.png")).unwrap();
    std::fs::write(dir.path().join("notes.png"), b"not a png").unwrap();
    let (dataset, _) = carve::io::dataset::Dataset::scan(dir.path(), &["mug".to_owned(), "ball".to_owned()]).unwrap();
    dataset.save(&dir.path().join("dataset.json")).unwrap();

    let mut h = harness();
    h.state_mut().set_autosave_path(None);
    h.run_steps(3);
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(dir.path().to_owned())));
    h.run_steps(3);
    assert_eq!(h.state().side_tab(), SideTab::Folder);
    assert!(
        h.state().toasts().iter().any(|t| t.is_error && t.text.contains("notes.png")),
        "the unreadable file is named: {:?}",
        h.state().toasts()
    );
    let _ = h.get_by_label_contains("3 images · 0 done");
    assert_eq!(h.state().folder().map(|f| f.current), Some(0));
    let mut steps = Vec::new();
    // Photo a: the mug, then key 1 ("mug"); the ball, then key 2 ("ball").
    for (key, name) in [(egui::Key::Num1, "mug"), (egui::Key::Num2, "ball")] {
        let (x, y, _) = object_centre(name, false);
        let pos = to_screen(h.state(), x, y);
        click_at(&mut h, pos);
        wait_idle(&mut h, &mut steps);
        press(&mut h, key);
    }
    let a_masks = shown_masks(h.state());
    let classes: Vec<&str> = a_masks.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(classes, ["mug", "ball"]);
    assert!(a_masks.iter().all(|m| !m.1));
    // The digits chose classes, not views.
    let (_, mug_truth) = carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").unwrap();
    assert!(a_masks[0].2.iou(&mug_truth) > 0.8, "mug IoU {}", a_masks[0].2.iou(&mug_truth));
    // Photo b (mirrored): the mug comes as "ball" (the class used last); key 1 makes it "mug".
    press(&mut h, egui::Key::D);
    assert_eq!(h.state().folder().map(|f| f.current), Some(1));
    assert!(h.state().workbench.masks.is_empty());
    let (x, y, _) = object_centre("mug", true);
    let pos = to_screen(h.state(), x, y);
    click_at(&mut h, pos);
    wait_idle(&mut h, &mut steps);
    assert_eq!(shown_masks(h.state())[0].0, "ball");
    press(&mut h, egui::Key::Num1);
    let b_masks = shown_masks(h.state());
    assert_eq!(b_masks.len(), 1);
    assert_eq!(b_masks[0].0, "mug", "key 1 changed the selected mask's class");
    // Back and forth.
    let t0 = Instant::now();
    press(&mut h, egui::Key::A);
    let back_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(shown_masks(h.state()), a_masks);
    press(&mut h, egui::Key::D);
    assert_eq!(shown_masks(h.state()), b_masks);
    eprintln!("previous photo (A, 2 frames, classical engine): {back_ms:.0} ms");
    // Quit; a new window on the folder.
    drop(h);
    let saved = carve::io::dataset::Dataset::load(&dir.path().join("dataset.json")).unwrap();
    let stats = saved.stats();
    assert_eq!((stats.done, stats.todo, stats.human, stats.prelabels), (2, 1, 3, 0));
    assert_eq!(stats.per_category.get("mug"), Some(&2));
    let mut h = harness();
    h.state_mut().set_autosave_path(None);
    h.run_steps(2);
    h.state_mut().open_folder(dir.path());
    h.run_steps(3);
    assert_eq!(h.state().folder().map(|f| f.current), Some(2), "the first photo not done opens");
    assert!(h.state().workbench.masks.is_empty());
    press(&mut h, egui::Key::A);
    assert_eq!(shown_masks(h.state()), b_masks);
    press(&mut h, egui::Key::A);
    assert_eq!(shown_masks(h.state()), a_masks);
    let _ = h.get_by_label_contains("2 done");
}

/// Issue 15: a concept run over every photo of the folder (SAM 3, the tiny random-weight export
/// with its instance threshold at 0 so that it finds something) brings pre-labels — hatched in the
/// photo shown, into `dataset.json` for the others — and never changes the human mask drawn
/// before; Y accepts one pre-label, Shift+Y the rest, and the photo is done.
#[test]
fn concept_across_the_folder_brings_prelabels_and_never_touches_human_masks() {
    let root = crate::common::repo_root();
    let model_dir = tempfile::tempdir_in(root.join("target")).unwrap();
    let model = model_dir.path().join("sam3");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(&crate::sam3_engine::fixture().model).unwrap() {
        let from = entry.unwrap().path();
        let to = model.join(from.file_name().unwrap());
        if from.file_name().unwrap() == "manifest.toml" {
            let text = std::fs::read_to_string(&from).unwrap();
            std::fs::write(&to, text.replace("score_threshold = 0.5", "score_threshold = 0.0")).unwrap();
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = carve::core::demo::still_life();
    demo.rgb().save(dir.path().join("a.png")).unwrap();
    image::imageops::flip_horizontal(demo.rgb()).save(dir.path().join("b.png")).unwrap();

    let mut h = harness();
    h.state_mut().set_autosave_path(None);
    h.run_steps(3);
    h.state_mut().open_folder(dir.path());
    h.run_steps(3);
    // A human mask on photo a, with the classical engine.
    let mut steps = Vec::new();
    let (x, y, _) = object_centre("mug", false);
    let pos = to_screen(h.state(), x, y);
    click_at(&mut h, pos);
    wait_idle(&mut h, &mut steps);
    let human = shown_masks(h.state());
    assert_eq!(human.len(), 1);
    // SAM 3 loads; the mask stays.
    h.state_mut().set_model_folder(model.display().to_string());
    h.state_mut().load_engine();
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.state().workbench.engine() != Some(carve::segment::EngineKind::Sam3) {
        h.step();
        assert!(Instant::now() < deadline, "SAM 3 did not load: {:?}", h.state().toasts());
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_idle(&mut h, &mut steps);
    // The concept over the folder, from the Folder tab.
    h.get_by_label("Concept").focus();
    h.step();
    h.get_by_label("Concept").type_text("mug");
    h.step();
    h.get_by_label("In every photo").click();
    h.run_steps(2);
    assert!(h.state().folder().is_some_and(|f| f.concept.is_some()), "the run is in the background");
    let deadline = Instant::now() + Duration::from_secs(300);
    while h.state().folder().is_some_and(|f| f.concept.is_some()) {
        h.step();
        assert!(Instant::now() < deadline, "the concept run did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
    let shown = shown_masks(h.state());
    assert_eq!(shown[0], human[0], "the human mask is untouched");
    let prelabels = shown.iter().filter(|m| m.1).count();
    assert!(prelabels >= 1, "pre-labels in the photo shown: {}", shown.len());
    assert!(shown[1..].iter().all(|m| m.1 && m.0 == "mug"));
    let saved = carve::io::dataset::Dataset::load(&dir.path().join("dataset.json")).unwrap();
    let b = saved.images.iter().find(|im| im.file_name == "b.png").unwrap();
    assert_eq!(b.status, carve::io::dataset::Status::Prelabelled);
    let humans: Vec<_> = saved.annotations.iter().filter(|a| a.origin == carve::io::dataset::Origin::Human).collect();
    assert_eq!(humans.len(), 1);
    assert_eq!(saved.mask_of(humans[0]).unwrap(), human[0].2, "the saved human mask is untouched");
    // Y accepts the selected pre-label; Shift+Y every other.
    h.state_mut().workbench.selected = Some(1);
    press(&mut h, egui::Key::Y);
    assert!(!h.state().workbench.masks[1].prelabel);
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Y);
    h.run_steps(2);
    assert!(h.state().workbench.masks.iter().all(|m| !m.prelabel));
    press(&mut h, egui::Key::D);
    let saved = carve::io::dataset::Dataset::load(&dir.path().join("dataset.json")).unwrap();
    let a = saved.images.iter().find(|im| im.file_name == "a.png").unwrap();
    assert_eq!(a.status, carve::io::dataset::Status::Done);
    assert!(shown_masks(h.state()).iter().all(|m| m.1), "photo b shows its pre-labels");
}
