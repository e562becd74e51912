//! Core data types shared by every pipeline step: images, masks, prompts and cameras.
//!
//! Pixel convention used everywhere in Carve: continuous image coordinates have their origin at
//! the top-left *corner* of the image, x to the right, y down, in pixels; the centre of pixel
//! `(i, j)` (column `i`, row `j`) is at `(i + 0.5, j + 0.5)`.

pub mod camera;
pub mod image;
pub mod mask;
pub mod prompt;
