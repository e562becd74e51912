//! The renderer's own render targets: an MSAA colour texture resolved into a single-sample one
//! (sampled by the GUI or copied out for readback) and an MSAA depth buffer.

use super::{COLOR_FORMAT, DEPTH_FORMAT, SAMPLES};

/// The renderer's own colour (MSAA + resolved) and depth targets.
pub struct Targets {
    pub size: [u32; 2],
    pub msaa: wgpu::TextureView,
    /// The resolved colour texture: sampled by egui, or copied out for readback.
    pub resolved_texture: wgpu::Texture,
    pub resolved: wgpu::TextureView,
    pub depth: wgpu::TextureView,
}

impl Targets {
    /// Targets of `size`; `resolved_usage` adds to RENDER_ATTACHMENT (TEXTURE_BINDING, COPY_SRC, …).
    pub fn new(device: &wgpu::Device, size: [u32; 2], resolved_usage: wgpu::TextureUsages) -> Self {
        let extent = wgpu::Extent3d { width: size[0], height: size[1], depth_or_array_layers: 1 };
        let make = |label, format, samples, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: extent,
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let msaa = make("colour msaa", COLOR_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        let resolved_texture = make("colour", COLOR_FORMAT, 1, wgpu::TextureUsages::RENDER_ATTACHMENT | resolved_usage);
        let depth = make("depth", DEPTH_FORMAT, SAMPLES, wgpu::TextureUsages::RENDER_ATTACHMENT);
        Self {
            size,
            msaa: msaa.create_view(&Default::default()),
            resolved: resolved_texture.create_view(&Default::default()),
            resolved_texture,
            depth: depth.create_view(&Default::default()),
        }
    }
}
