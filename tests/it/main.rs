//! Carve's integration tests, in one binary so that libtorch, wgpu and egui are linked once (a
//! binary per file linked them thirteen times). One module per area; shared helpers and fixtures
//! live in `common` and are built once per run.

#![allow(dead_code)]

mod batch;
mod body;
mod body_fit;
mod body_predict;
mod cli_models;
mod cli_segment;
mod common;
mod dataset;
mod gui_kittest;
mod gui_window;
mod image_loading;
mod layering;
mod lift;
mod lift_eval;
#[path = "../support/lift_eval.rs"]
mod lift_eval_support;
mod malformed;
mod npz;
mod official;
mod render;
mod rle_pycocotools;
mod sam2_engine;
mod sam3_engine;
mod sam3_fidelity;
mod segment_quality;
mod tch_roundtrip;
