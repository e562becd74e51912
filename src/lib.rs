//! Carve: a desktop workbench that segments photos with SAM 3 (through libtorch) or a built-in
//! engine, lifts objects to 3D, fits MHR body rigs, and exports glTF/PLY.
//!
//! The library owns every pipeline step; the GUI (`app`) and the CLI (`src/bin/carve`) only call
//! it. Layers, each naming only those above it: `core` → `io`, `model` → `segment`, `lift`,
//! `body` → `render` → `app` (checked by `tests/it/layering.rs`).
//! Each step is a plain function or small struct taking data in and giving data out; long steps
//! take a [`core::task::Progress`] for progress reporting and cancellation.

// Nothing a user or a file controls may end in a panic: no `unwrap`/`expect` in the library
// (tests may; they are where a panic is the report).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod body;
pub mod core;
pub mod io;
pub mod lift;
pub mod model;
pub mod render;
pub mod segment;

pub use crate::core::camera::Camera;
pub use crate::core::image::{Image, ImageError};
pub use crate::core::mask::{CocoRle, Mask, MaskError, Polygon};
pub use crate::core::prompt::{BoxPrompt, PointLabel, PointPrompt, Prompt, PromptError};
pub use crate::core::task::{Cancelled, Progress, Task};
