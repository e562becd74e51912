//! Going to the next photo of a labelled folder (issue 15: < 100 ms when the features are cached):
//! what a press of D does in the library — read the photo, its masks from the dataset, show it on
//! the workbench (the engine stays), the model engine preparing it — until the first click's
//! masks are there; with the photo pre-encoded in the background while the previous one was
//! labelled (`Workbench::preencode`, what the window does), and, in the same run, without (the
//! photo encoded when shown, the disk cache empty). Medians over the folder's photos; the model's
//! 2 torch threads, the rest on 1.
//!
//!     cargo bench --profile dev --bench folder_nav -- MODEL_DIR
//!
//! MODEL_DIR: a SAM 3 folder from `tools/export_sam3.py` (`--tiny` or full size).

use std::path::PathBuf;
use std::time::Instant;

use carve::app::folder::Folder;
use carve::app::workbench::Workbench;
use carve::core::prompt::PointLabel;
use carve::model::precision::PrecisionChoice;
use carve::model::{ModelFolder, SearchOrigin};
use carve::segment::sam3::Sam3Segmenter;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[allow(unsafe_code)]
fn main() -> anyhow::Result<()> {
    let Some(model) = std::env::args().nth(1).filter(|a| !a.starts_with('-')).map(PathBuf::from) else {
        eprintln!("usage: cargo bench --profile dev --bench folder_nav -- MODEL_DIR");
        return Ok(());
    };
    let cache = tempfile::tempdir()?;
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("CARVE_CACHE_DIR", cache.path()) };
    let dir = tempfile::tempdir()?;
    let demo = carve::core::demo::still_life();
    const PHOTOS: usize = 7;
    for k in 0..PHOTOS {
        // Distinct photos (their content keys the feature cache).
        let mut rgb = demo.rgb().clone();
        for p in rgb.pixels_mut() {
            p.0[0] = p.0[0].saturating_add(k as u8 * 9);
        }
        let rgb = if k % 2 == 1 { image::imageops::flip_horizontal(&rgb) } else { rgb };
        rgb.save(dir.path().join(format!("photo_{k}.jpg")))?;
    }
    let mut folder = Folder::open(dir.path())?;
    let sam3 = Sam3Segmenter::load(&ModelFolder::inspect(&model, SearchOrigin::Explicit), PrecisionChoice::Auto)?;
    let first = carve::Image::load(folder.image_path(0).expect("photo"))?;
    let mut wb = Workbench::new(first, Box::new(sam3));
    wb.wait();
    let (mut cached, mut uncached, mut encode_ahead) = (Vec::new(), Vec::new(), Vec::new());
    for k in 1..PHOTOS {
        let path = folder.image_path(k).expect("photo");
        let preencoded = k % 2 == 1;
        if preencoded {
            // While photo k-1 is labelled.
            let t0 = Instant::now();
            wb.preencode(vec![path.clone()]);
            wb.wait_preencode().expect("a run").map_err(anyhow::Error::msg)?;
            encode_ahead.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        // D pressed.
        let t0 = Instant::now();
        let image = carve::Image::load(&path)?;
        let masks = folder.masks_of(k);
        wb.show_photo(image, masks);
        wb.wait();
        let shown_ms = t0.elapsed().as_secs_f64() * 1e3;
        wb.click(620.0, 480.0, PointLabel::Positive);
        let failed: Vec<String> = wb
            .wait()
            .into_iter()
            .filter_map(|f| match f {
                carve::app::workbench::Finished::Failed(e) => Some(e),
                _ => None,
            })
            .collect();
        anyhow::ensure!(failed.is_empty(), "{failed:?}");
        let first_mask_ms = t0.elapsed().as_secs_f64() * 1e3;
        folder.current = k;
        folder.store(k, &wb.masks)?;
        println!(
            "photo {k}: {} shown in {shown_ms:.0} ms, first mask at {first_mask_ms:.0} ms",
            if preencoded { "pre-encoded," } else { "not pre-encoded," }
        );
        if preencoded { &mut cached } else { &mut uncached }.push((shown_ms, first_mask_ms));
    }
    let (c_shown, c_mask) =
        (median(cached.iter().map(|c| c.0).collect()), median(cached.iter().map(|c| c.1).collect()));
    let (u_shown, u_mask) =
        (median(uncached.iter().map(|c| c.0).collect()), median(uncached.iter().map(|c| c.1).collect()));
    println!("model {}, 1024×768 JPEG photos, torch threads {}", model.display(), tch::get_num_threads());
    println!("next photo, pre-encoded: shown {c_shown:.0} ms, first mask {c_mask:.0} ms (median of {})", cached.len());
    println!(
        "next photo, not pre-encoded: shown {u_shown:.0} ms, first mask {u_mask:.0} ms (median of {}); ratio {:.3}",
        uncached.len(),
        c_mask / u_mask
    );
    println!("encoding ahead in the background: median {:.0} ms per photo", median(encode_ahead));
    Ok(())
}
