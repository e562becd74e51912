//! Prints the simulated clicks and IoUs of the NoC protocol on one image (debugging aid).
//!
//!     cargo run --example click_debug -- SET_DIR NAME [N]
use carve::segment::eval::{load_eval_set, run_clicks};
use carve::segment::{ClassicalSegmenter, Segmenter};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let items = load_eval_set(std::path::Path::new(&args[0])).expect("set");
    let item = items.iter().find(|i| i.name == args[1]).expect("image");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(6);
    let mut seg = ClassicalSegmenter::default();
    seg.set_image(&item.image, &carve::Progress::new()).unwrap();
    let out = std::env::var("DUMP").ok();
    let mut k = 0;
    run_clicks(&item.truth, n, 0.85, |clicks, previous| {
        let c = clicks.last().unwrap();
        let prompt = carve::Prompt { points: clicks.to_vec(), ..Default::default() };
        let m = seg.segment(&prompt, previous).map(|m| m[0].mask.clone());
        if let (Ok(m), Some(d)) = (&m, &out) {
            m.save_png(format!("{d}/click{k}.png")).unwrap();
        }
        k += 1;
        let m = m?;
        println!(
            "click ({:.0},{:.0}) {:?} -> area {} iou {:.3} prev area {}",
            c.x_px,
            c.y_px,
            c.label,
            m.area(),
            m.iou(&item.truth),
            previous.map_or(0, |p| p.area())
        );
        Ok::<_, carve::segment::SegmentError>(m)
    })
    .unwrap();
}
