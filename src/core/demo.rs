//! The embedded demo: a CC0 still-life photo (made by `tools/make_demo_image.py`, licence in
//! `assets/LICENSE.md`) and its ground-truth object masks, compiled into the binary so that
//! `carve` shows something useful on a machine with no files and no models.

use crate::core::image::Image;
use crate::core::mask::Mask;

/// JPEG bytes of the demo photo.
pub const STILL_LIFE_JPG: &[u8] = include_bytes!("../../assets/demo/still_life.jpg");
/// Display name of the demo photo.
pub const STILL_LIFE_NAME: &str = "still_life.jpg (embedded demo)";

const MASKS: [(&str, &[u8]); 3] = [
    ("ball", include_bytes!("../../assets/demo/masks/ball.png")),
    ("mug", include_bytes!("../../assets/demo/masks/mug.png")),
    ("box", include_bytes!("../../assets/demo/masks/box.png")),
];

/// The demo photo, decoded.
pub fn still_life() -> Image {
    // The bytes are compiled in and covered by a test, so decoding cannot fail at run time;
    // fall back to a grey image rather than panic all the same.
    Image::from_bytes(STILL_LIFE_JPG, STILL_LIFE_NAME)
        .unwrap_or_else(|_| Image::from_rgb(image::RgbImage::from_pixel(1024, 768, image::Rgb([128, 128, 128]))))
}

/// Ground-truth masks of the demo objects: `(name, mask)`.
pub fn still_life_masks() -> Vec<(&'static str, Mask)> {
    MASKS
        .iter()
        .filter_map(|(name, png)| {
            let image = Image::from_bytes(png, name).ok()?;
            let rgb = image.rgb();
            Some((*name, Mask::from_fn(rgb.width(), rgb.height(), |x, y| rgb.get_pixel(x, y).0[0] > 127)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_assets_decode() {
        let image = super::Image::from_bytes(super::STILL_LIFE_JPG, "demo").expect("embedded demo decodes");
        assert_eq!((image.width(), image.height()), (1024, 768));
        let masks = super::still_life_masks();
        assert_eq!(masks.len(), 3);
        for (name, mask) in masks {
            assert_eq!((mask.width(), mask.height()), (1024, 768));
            assert!(mask.area() > 10_000, "{name} mask is too small");
            // The red ball is red in the photo.
            if name == "ball" {
                let [x0, y0, x1, y1] = mask.bbox().unwrap();
                let [r, g, b] = image.pixel((x0 + x1) / 2, (y0 + y1) / 2).unwrap();
                assert!(r > 2 * g.max(b), "ball centre colour {r},{g},{b}");
            }
        }
    }
}
