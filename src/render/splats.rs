//! 3D Gaussian splats (`shaders/splat.wgsl`): EWA projection of each splat's 3D covariance, SH
//! degree 0–3, premultiplied-alpha blending without depth writes, so they are drawn back to front
//! in an order sorted on the CPU (in parallel, only when the view changed) and read by the vertex
//! shader from a storage buffer.

use glam::Vec3;
use rayon::prelude::*;

use super::pipeline::{PipelineSpec, buffer, layout, pipeline, shader};
use crate::core::geometry::Splats;

/// A splat cloud on the GPU, with the CPU copy of its positions for sorting.
pub(super) struct GpuSplats {
    positions: Vec<[f32; 3]>,
    order: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// Camera position and forward axis of the current order.
    sorted_for: Option<([f32; 3], [f32; 3])>,
    order_scratch: Vec<u32>,
}

impl GpuSplats {
    /// Sorts back to front for a camera at `eye_world` looking along `forward_world` and uploads
    /// the order, unless it is already sorted for that view. Returns whether it sorted.
    pub(super) fn sort(&mut self, queue: &wgpu::Queue, eye_world: Vec3, forward_world: Vec3) -> bool {
        let key = (eye_world.to_array(), forward_world.to_array());
        if self.sorted_for == Some(key) {
            return false;
        }
        sort_back_to_front(&self.positions, eye_world, forward_world, &mut self.order_scratch);
        queue.write_buffer(&self.order, 0, bytemuck::cast_slice(&self.order_scratch));
        self.sorted_for = Some(key);
        true
    }
}

/// The splat bind group layout (group 1: data, SH, order, cloud uniform) and pipeline.
pub(super) struct SplatRenderer {
    bind_group_layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
}

impl SplatRenderer {
    pub(super) fn new(device: &wgpu::Device, globals: &wgpu::BindGroupLayout) -> Self {
        let storage = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("splats"),
            entries: &[
                storage(0),
                storage(1),
                storage(2),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = layout(device, "splats", globals, &[&bind_group_layout]);
        let module = shader(device, "splats", include_str!("../../shaders/splat.wgsl"));
        let pipeline = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "splats",
                module: &module,
                vs: "vs_main",
                buffers: &[],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                depth_write: false,
                blend: wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING,
                bias: Default::default(),
            },
        );
        Self { bind_group_layout, pipeline }
    }

    /// Uploads a splat cloud: per splat position, opacity and 3D covariance; the SH coefficients;
    /// the identity order (sorted on the first [`GpuSplats::sort`]).
    pub(super) fn upload(&self, device: &wgpu::Device, s: &Splats) -> GpuSplats {
        let data: Vec<[f32; 12]> = (0..s.len())
            .into_par_iter()
            .map(|i| {
                let p = s.positions[i];
                let c = s.covariance(i);
                [p[0], p[1], p[2], s.opacities[i], c[0], c[1], c[2], c[3], c[4], c[5], 0.0, 0.0]
            })
            .collect();
        let stride = (s.sh_coeffs() * 3) as u32;
        let sh: &[f32] = if s.sh.is_empty() { &[0.0] } else { &s.sh };
        let data_buf = buffer(device, "splat data", bytemuck::cast_slice(&data), wgpu::BufferUsages::STORAGE);
        let sh_buf = buffer(device, "splat sh", bytemuck::cast_slice(sh), wgpu::BufferUsages::STORAGE);
        let initial: Vec<u32> = (0..s.len() as u32).collect();
        let order = buffer(
            device,
            "splat order",
            bytemuck::cast_slice(&initial),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let cloud = buffer(
            device,
            "splat cloud",
            bytemuck::cast_slice(&[u32::from(s.sh_degree), stride, 0, 0]),
            wgpu::BufferUsages::UNIFORM,
        );
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("splats"),
            layout: &self.bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: data_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: sh_buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: order.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: cloud.as_entire_binding() },
            ],
        });
        GpuSplats { positions: s.positions.clone(), order, bind_group, sorted_for: None, order_scratch: initial }
    }

    /// Draws the clouds (sorted first, see [`GpuSplats::sort`]), one quad per splat.
    pub(super) fn draw(&self, pass: &mut wgpu::RenderPass<'_>, clouds: &[GpuSplats]) {
        pass.set_pipeline(&self.pipeline);
        for s in clouds {
            pass.set_bind_group(1, &s.bind_group, &[]);
            pass.draw(0..4, 0..s.positions.len() as u32);
        }
    }
}

/// Orders splat indices far to near along the view direction (parallel sort on depth keys).
pub fn sort_back_to_front(positions: &[[f32; 3]], eye: Vec3, forward: Vec3, order: &mut Vec<u32>) {
    let mut keyed: Vec<(u32, u32)> = positions
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let depth = (Vec3::from_array(*p) - eye).dot(forward);
            // Larger depth first: flip the order-preserving bit pattern of the float.
            let bits = depth.to_bits();
            let ordered = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
            (!ordered, i as u32)
        })
        .collect();
    keyed.par_sort_unstable_by_key(|k| k.0);
    order.clear();
    order.extend(keyed.iter().map(|k| k.1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_puts_far_splats_first() {
        let positions = [[0.0, 0.0, 1.0], [0.0, 0.0, 5.0], [0.0, 0.0, -2.0], [0.0, 0.0, 3.0]];
        let mut order = Vec::new();
        sort_back_to_front(&positions, Vec3::ZERO, Vec3::Z, &mut order);
        assert_eq!(order, vec![1, 3, 0, 2]);
        sort_back_to_front(&positions, Vec3::new(0.0, 0.0, 10.0), Vec3::NEG_Z, &mut order);
        assert_eq!(order, vec![2, 0, 3, 1]);
    }
}
