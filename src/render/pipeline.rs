//! Pipeline plumbing shared by every primitive: WGSL modules prefixed with `shaders/common.wgsl`
//! (the per-frame `Globals`, bind group 0), pipeline layouts, initialised buffers, and one [`pipeline`]
//! builder for the renderer's targets ([`COLOR_FORMAT`], depth32, [`SAMPLES`] samples, no culling, `LessEqual`).

use wgpu::util::DeviceExt;

use super::{COLOR_FORMAT, DEPTH_FORMAT, SAMPLES};

/// A shader module from `source` with `shaders/common.wgsl` prepended.
pub(super) fn shader(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    let full = format!("{}\n{}", include_str!("../../shaders/common.wgsl"), source);
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(full.into()),
    })
}

/// A buffer initialised with `contents`.
pub(super) fn buffer(device: &wgpu::Device, label: &str, contents: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
}

/// A pipeline layout of the globals (group 0) followed by `groups` (1, 2, …).
pub(super) fn layout(
    device: &wgpu::Device,
    label: &str,
    globals: &wgpu::BindGroupLayout,
    groups: &[&wgpu::BindGroupLayout],
) -> wgpu::PipelineLayout {
    let bind_group_layouts: Vec<Option<&wgpu::BindGroupLayout>> =
        std::iter::once(globals).chain(groups.iter().copied()).map(Some).collect();
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &bind_group_layouts,
        immediate_size: 0,
    })
}

/// What differs between the renderer's pipelines.
pub(super) struct PipelineSpec<'a> {
    pub label: &'a str,
    pub module: &'a wgpu::ShaderModule,
    /// Vertex entry point.
    pub vs: &'a str,
    pub buffers: &'a [Option<wgpu::VertexBufferLayout<'a>>],
    pub topology: wgpu::PrimitiveTopology,
    /// Fragment entry point.
    pub fs: &'a str,
    pub depth_write: bool,
    pub blend: wgpu::BlendState,
    pub bias: wgpu::DepthBiasState,
}

/// A render pipeline drawing into the renderer's targets.
pub(super) fn pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    spec: PipelineSpec<'_>,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(spec.label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: spec.module,
            entry_point: Some(spec.vs),
            compilation_options: Default::default(),
            buffers: spec.buffers,
        },
        primitive: wgpu::PrimitiveState { topology: spec.topology, cull_mode: None, ..Default::default() },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(spec.depth_write),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: Default::default(),
            bias: spec.bias,
        }),
        multisample: wgpu::MultisampleState { count: SAMPLES, ..Default::default() },
        fragment: Some(wgpu::FragmentState {
            module: spec.module,
            entry_point: Some(spec.fs),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: COLOR_FORMAT,
                blend: Some(spec.blend),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}
