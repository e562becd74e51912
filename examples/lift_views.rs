//! Makes the README's lift pictures: each demo object lifted with default settings, rendered from
//! the source camera and from ±30° around the object (the camera orbits about the object's centre,
//! about the image's vertical axis).
//!
//!     cargo run --example lift_views -- OUT_DIR
use carve::lift::{LiftParams, lift};
use carve::render::headless::Headless;
use carve::render::{RenderSettings, Scene};
use glam::{DMat4, DVec3};

fn main() -> anyhow::Result<()> {
    let out_dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs".into()));
    std::fs::create_dir_all(&out_dir)?;
    let photo = carve::core::demo::still_life();
    let headless = Headless::new()?;
    let settings = RenderSettings { background: [0.12, 0.12, 0.14], ..Default::default() };
    for (name, mask) in carve::core::demo::still_life_masks() {
        let out = lift(&photo, &mask, &LiftParams::default(), &carve::Progress::new())?;
        println!("{name}: {}", out.engine);
        let centre = DVec3::from_array(out.grid.layout.translation);
        let [x0, y0, x1, y1] = mask.bbox().unwrap_or([0, 0, 1024, 768]);
        let pad = ((x1 - x0).max(y1 - y0) / 3) as f64;
        let mut frames = Vec::new();
        for angle_deg in [-30.0f64, 0.0, 30.0] {
            // Orbit the source camera about the object's centre, then crop to the object.
            let about = DMat4::from_translation(centre)
                * DMat4::from_rotation_y(angle_deg.to_radians())
                * DMat4::from_translation(-centre);
            let mut camera = out.camera;
            camera.world_from_camera = about * camera.world_from_camera;
            let (cw, ch) = ((x1 - x0) as f64 + 2.0 * pad, (y1 - y0) as f64 + 2.0 * pad);
            let scale = 256.0 / cw.max(ch);
            let crop = carve::Camera {
                width: 256,
                height: 256,
                fx: camera.fx * scale,
                fy: camera.fy * scale,
                cx: (camera.cx - (f64::from(x0) - pad)) * scale + (256.0 - cw * scale) / 2.0,
                cy: (camera.cy - (f64::from(y0) - pad)) * scale + (256.0 - ch * scale) / 2.0,
                ..camera
            };
            let mut gpu = headless.upload(&Scene { splats: vec![out.splats.clone()], ..Default::default() }, &settings);
            frames.push(headless.render(&mut gpu, &crop, &settings)?);
        }
        let mut strip = image::RgbImage::new(256 * 3, 256);
        for (i, f) in frames.iter().enumerate() {
            image::imageops::replace(&mut strip, f.rgb(), 256 * i as i64, 0);
        }
        let path = out_dir.join(format!("lift_{name}.png"));
        carve::Image::from_rgb(strip).save_png(&path)?;
        println!("{}", path.display());
    }
    Ok(())
}
