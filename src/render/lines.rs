//! Line sets and point clouds: per-vertex colours, no lighting (`shaders/lines.wgsl`). Lines are
//! a line list; each point is an instanced screen-aligned square whose side in pixels is a
//! per-frame global (the first cloud's size, see `Renderer::prepare`).

use bytemuck::{Pod, Zeroable};

use super::pipeline::{PipelineSpec, buffer, layout, pipeline, shader};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColorVertex {
    position: [f32; 3],
    color: [f32; 4],
}

const COLOR_VERTEX_ATTRS: [wgpu::VertexAttribute; 2] = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x4];

/// Coloured vertices on the GPU: a line list, or one instance per point.
pub(super) struct GpuColorVertices {
    buffer: wgpu::Buffer,
    count: u32,
    /// Point size in pixels (1 for lines).
    pub(super) size_px: f32,
}

/// The line and point pipelines.
pub(super) struct LineRenderer {
    lines: wgpu::RenderPipeline,
    points: wgpu::RenderPipeline,
}

impl LineRenderer {
    pub(super) fn new(device: &wgpu::Device, globals: &wgpu::BindGroupLayout) -> Self {
        let pipeline_layout = layout(device, "lines", globals, &[]);
        let module = shader(device, "lines", include_str!("../../shaders/lines.wgsl"));
        let vertex_layout = |step_mode| wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<ColorVertex>() as u64,
            step_mode,
            attributes: &COLOR_VERTEX_ATTRS,
        };
        let lines = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "lines",
                module: &module,
                vs: "vs_line",
                buffers: &[Some(vertex_layout(wgpu::VertexStepMode::Vertex))],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::LineList,
                depth_write: true,
                blend: wgpu::BlendState::REPLACE,
                bias: Default::default(),
            },
        );
        let points = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "points",
                module: &module,
                vs: "vs_point",
                buffers: &[Some(vertex_layout(wgpu::VertexStepMode::Instance))],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: true,
                blend: wgpu::BlendState::REPLACE,
                bias: Default::default(),
            },
        );
        Self { lines, points }
    }

    /// Uploads positions with their colours (white where `colors` is short).
    pub(super) fn upload(
        &self,
        device: &wgpu::Device,
        label: &str,
        positions: &[[f32; 3]],
        colors: &[[f32; 4]],
        size_px: f32,
    ) -> GpuColorVertices {
        let vertices: Vec<ColorVertex> = positions
            .iter()
            .enumerate()
            .map(|(i, &position)| ColorVertex { position, color: colors.get(i).copied().unwrap_or([1.0; 4]) })
            .collect();
        GpuColorVertices {
            buffer: buffer(device, label, bytemuck::cast_slice(&vertices), wgpu::BufferUsages::VERTEX),
            count: vertices.len() as u32,
            size_px,
        }
    }

    /// Draws line lists.
    pub(super) fn draw_lines(&self, pass: &mut wgpu::RenderPass<'_>, lines: &[GpuColorVertices]) {
        pass.set_pipeline(&self.lines);
        // Empty buffers cannot be bound (a wgpu panic): skipped.
        for l in lines.iter().filter(|l| l.count > 0) {
            pass.set_vertex_buffer(0, l.buffer.slice(..));
            pass.draw(0..l.count, 0..1);
        }
    }

    /// Draws point clouds, one quad per point.
    pub(super) fn draw_points(&self, pass: &mut wgpu::RenderPass<'_>, points: &[GpuColorVertices]) {
        pass.set_pipeline(&self.points);
        for p in points.iter().filter(|p| p.count > 0) {
            pass.set_vertex_buffer(0, p.buffer.slice(..));
            pass.draw(0..4, 0..p.count);
        }
    }
}
