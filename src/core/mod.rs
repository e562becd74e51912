//! Core data types shared by every pipeline step: images, masks, prompts, cameras, geometry
//! (meshes, splats, points, lines), layouts, atomic file writes and tasks (progress + cancel).
//! The bottom layer: nothing here names `io`, `model`, a pipeline, the renderer or the app.
//!
//! Pixel convention used everywhere in Carve: continuous image coordinates have their origin at
//! the top-left *corner* of the image, x to the right, y down, in pixels; the centre of pixel
//! `(i, j)` (column `i`, row `j`) is at `(i + 0.5, j + 0.5)`.

pub mod camera;
pub mod demo;
pub mod fs;
pub mod geometry;
pub mod image;
pub mod layout;
pub mod mask;
pub mod prompt;
pub mod shard;
pub mod task;
