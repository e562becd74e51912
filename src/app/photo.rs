//! The photo on screen: the decoded image, its name and file, its GPU texture (downscaled to the
//! GPU's limit), and the 3D scene that places it at its camera.

use std::path::PathBuf;

use crate::core::geometry::LineSet;
use crate::core::image::Image;
use crate::render::{PhotoPlane, Scene};

/// The photo, where it came from, and its texture once uploaded.
pub struct Photo {
    pub image: Image,
    /// The file's path as shown, or the demo's name.
    pub name: String,
    /// The photo's file (`None`: the embedded demo).
    pub path: Option<PathBuf>,
    texture: Option<egui::TextureHandle>,
}

impl Photo {
    /// The embedded demo photo.
    pub fn demo() -> Self {
        Self::new(crate::core::demo::still_life(), None)
    }

    /// `image`, read from `path` (`None`: the demo).
    pub fn new(image: Image, path: Option<PathBuf>) -> Self {
        let name = path.as_ref().map_or(crate::core::demo::STILL_LIFE_NAME.to_owned(), |p| p.display().to_string());
        Self { image, name, path, texture: None }
    }

    /// The photo's texture, uploaded on first use (downscaled when larger than the GPU allows).
    pub fn texture(&mut self, ctx: &egui::Context) -> egui::TextureHandle {
        if let Some(t) = &self.texture {
            return t.clone();
        }
        let max_side = ctx.input(|i| i.max_texture_side) as u32;
        let rgb = self.image.rgb();
        let shown = if rgb.width() > max_side || rgb.height() > max_side {
            let scale = f64::from(max_side) / f64::from(rgb.width().max(rgb.height()));
            let (w, h) = ((f64::from(rgb.width()) * scale) as u32, (f64::from(rgb.height()) * scale) as u32);
            image::imageops::resize(rgb, w.max(1), h.max(1), image::imageops::FilterType::Triangle)
        } else {
            rgb.clone()
        };
        let color = egui::ColorImage::from_rgb([shown.width() as usize, shown.height() as usize], shown.as_raw());
        let texture = ctx.load_texture("photo", color, egui::TextureOptions::LINEAR);
        self.texture = Some(texture.clone());
        texture
    }
}

/// The 3D scene of a photo: the image at its camera (a 50° view from the origin, OpenCV axes),
/// the camera's frustum, axes and a ground grid.
pub fn photo_scene(image: &Image) -> Scene {
    let mut scene = Scene::default();
    match crate::core::camera::Camera::from_fov_y(image.width(), image.height(), 50f64.to_radians()) {
        Ok(camera) => {
            scene.lines.push(LineSet::frustum(&camera, 2.0, [1.0, 0.85, 0.3, 1.0]));
            scene.photos.push(PhotoPlane { image: image.clone(), camera, depth: 2.0 });
        }
        Err(e) => tracing::warn!("the 3D view shows no photo: {e}"),
    }
    scene.lines.push(LineSet::axes([0.0; 3], 0.3));
    scene.lines.push(LineSet::grid([0.0, 1.0, 2.0], 0.25, 16, glam::Vec3::Y, [0.35, 0.35, 0.38, 1.0]));
    scene
}
