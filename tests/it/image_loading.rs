//! Image loading: EXIF orientation, 16-bit and greyscale PNGs, and bad files (truncated, unknown,
//! absurd sizes, missing) giving errors that name the file instead of panicking.
use crate::common;

use carve::{Image, ImageError};
use std::io::Cursor;

fn fixture(name: &str) -> std::path::PathBuf {
    common::repo_root().join("tests/data").join(name)
}

fn is_red([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 60 && b < 60
}
fn is_green([r, g, b]: [u8; 3]) -> bool {
    g > 200 && r < 60 && b < 60
}
fn is_blue([r, g, b]: [u8; 3]) -> bool {
    b > 200 && r < 60 && g < 60
}

#[test]
fn exif_rotated_jpeg_comes_out_upright() {
    // Stored 64×32: red left half, blue right half, green square at the stored top-left.
    // Orientation 6 = rotate 90° clockwise: upright 32×64, red on top, green at the top-right.
    let img = Image::load(fixture("exif_orientation_6.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (32, 64));
    assert!(is_green(img.pixel(28, 3).unwrap()), "{:?}", img.pixel(28, 3));
    assert!(is_red(img.pixel(10, 20).unwrap()));
    assert!(is_blue(img.pixel(16, 50).unwrap()));
    // Orientation 3 = rotate 180°: 64×32, blue on the left, green at the bottom-right.
    let img = Image::load(fixture("exif_orientation_3.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (64, 32));
    assert!(is_green(img.pixel(60, 28).unwrap()));
    assert!(is_blue(img.pixel(10, 16).unwrap()));
    assert!(is_red(img.pixel(50, 10).unwrap()));
}

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

#[test]
fn sixteen_bit_and_grey_pngs_load_as_rgb8() {
    let rgb16 =
        image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(10, 6, |x, _| image::Rgb([x as u16 * 6000, 65535, 0]));
    let img = Image::from_bytes(&encode(image::DynamicImage::ImageRgb16(rgb16), image::ImageFormat::Png), "rgb16.png")
        .unwrap();
    assert_eq!(img.pixel(9, 0).unwrap(), [(54000.0f64 / 257.0).round() as u8, 255, 0]);

    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(4, 4, image::Luma([32896]));
    let img =
        Image::from_bytes(&encode(image::DynamicImage::ImageLuma16(grey16), image::ImageFormat::Png), "grey16.png")
            .unwrap();
    assert_eq!(img.pixel(1, 1).unwrap(), [128, 128, 128]);

    let grey = image::GrayImage::from_fn(8, 3, |x, _| image::Luma([x as u8 * 30]));
    let img =
        Image::from_bytes(&encode(image::DynamicImage::ImageLuma8(grey), image::ImageFormat::Png), "grey.png").unwrap();
    assert_eq!((img.width(), img.height()), (8, 3));
    assert_eq!(img.pixel(7, 2).unwrap(), [210, 210, 210]);

    let grey_alpha = image::GrayAlphaImage::from_pixel(2, 2, image::LumaA([0, 0]));
    let img =
        Image::from_bytes(&encode(image::DynamicImage::ImageLumaA8(grey_alpha), image::ImageFormat::Png), "ga.png")
            .unwrap();
    assert_eq!(img.pixel(0, 0).unwrap(), [255, 255, 255]);
}

#[test]
fn other_formats_load() {
    let rgb = image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 99]));
    for format in [image::ImageFormat::Bmp, image::ImageFormat::Tiff, image::ImageFormat::WebP] {
        let bytes = encode(image::DynamicImage::ImageRgb8(rgb.clone()), format);
        let img = Image::from_bytes(&bytes, format!("x.{format:?}")).unwrap();
        assert_eq!(img.rgb(), &rgb, "{format:?} is lossless here");
    }
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let demo = carve::core::demo::STILL_LIFE_JPG;
    let png =
        encode(image::DynamicImage::ImageRgb8(carve::core::demo::still_life().rgb().clone()), image::ImageFormat::Png);
    for (name, bytes) in
        [("cut.jpg", &demo[..demo.len() / 3]), ("cut.png", &png[..png.len() / 2]), ("head.png", &png[..40])]
    {
        let Err(err) = Image::from_bytes(bytes, name) else { panic!("{name}: a truncated file decoded without error") };
        assert!(matches!(err, ImageError::Corrupt { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    // A BMP header claiming 20000×20000 pixels (1.2 GB as RGB) and no pixel data.
    let (w, h) = (20_000i32, 20_000i32);
    let mut bmp = Vec::new();
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54u32 + 3 * (w as u32)).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&w.to_le_bytes());
    bmp.extend_from_slice(&h.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    let err = Image::from_bytes(&bmp, "huge.bmp").unwrap_err();
    assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("huge.bmp") && err.to_string().contains("20000×20000"), "{err}");
}

#[test]
fn missing_and_unknown_files_name_the_file() {
    let err = Image::load("/no/such/photo.jpg").unwrap_err();
    assert!(matches!(err, ImageError::Io { .. }) && err.to_string().contains("/no/such/photo.jpg"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("notes.jpg");
    std::fs::write(&path, "these are not pixels").unwrap();
    let err = Image::load(&path).unwrap_err();
    assert!(matches!(err, ImageError::UnknownFormat { .. }) && err.to_string().contains("notes.jpg"), "{err}");
    // GIF is a real image format, but not one Carve takes.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    assert!(matches!(Image::from_bytes(gif, "a.gif").unwrap_err(), ImageError::UnknownFormat { .. }));
}
