//! Triangle meshes: lit and vertex-coloured (`shaders/mesh.wgsl`), with an optional wireframe of
//! their triangle edges drawn from the same vertex buffer. Triangles are pushed back a little in
//! depth so the edges win the depth test.

use bytemuck::{Pod, Zeroable};

use super::pipeline::{PipelineSpec, buffer, layout, pipeline, shader};
use crate::core::geometry::Mesh;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MeshVertex {
    position: [f32; 3],
    normal: [f32; 3],
    color: [f32; 4],
}

/// A mesh on the GPU: vertices, triangle indices and edge (line list) indices.
pub(super) struct GpuMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    edges: wgpu::Buffer,
    edge_count: u32,
}

/// The mesh and wireframe pipelines.
pub(super) struct MeshRenderer {
    mesh: wgpu::RenderPipeline,
    wireframe: wgpu::RenderPipeline,
}

impl MeshRenderer {
    pub(super) fn new(device: &wgpu::Device, globals: &wgpu::BindGroupLayout) -> Self {
        let pipeline_layout = layout(device, "mesh", globals, &[]);
        let module = shader(device, "mesh", include_str!("../../shaders/mesh.wgsl"));
        let attributes = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x4];
        let vertex_layout = wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<MeshVertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &attributes,
        };
        let mesh = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "mesh",
                module: &module,
                vs: "vs_main",
                buffers: &[Some(vertex_layout.clone())],
                fs: "fs_main",
                topology: wgpu::PrimitiveTopology::TriangleList,
                depth_write: true,
                blend: wgpu::BlendState::REPLACE,
                // Push triangles back a little so wireframe edges win the depth test.
                bias: wgpu::DepthBiasState { constant: 2, slope_scale: 1.0, clamp: 0.0 },
            },
        );
        let wireframe = pipeline(
            device,
            &pipeline_layout,
            PipelineSpec {
                label: "wireframe",
                module: &module,
                vs: "vs_main",
                buffers: &[Some(vertex_layout)],
                fs: "fs_wire",
                topology: wgpu::PrimitiveTopology::LineList,
                depth_write: true,
                blend: wgpu::BlendState::REPLACE,
                bias: Default::default(),
            },
        );
        Self { mesh, wireframe }
    }

    /// Uploads `mesh`, computing normals when absent; vertices without a colour get `base_color`.
    pub(super) fn upload(&self, device: &wgpu::Device, mesh: &Mesh, base_color: [f32; 4]) -> GpuMesh {
        let normals = mesh.normals.clone().unwrap_or_else(|| mesh.compute_normals());
        let vertices: Vec<MeshVertex> = (0..mesh.positions.len())
            .map(|i| MeshVertex {
                position: mesh.positions[i],
                normal: normals.get(i).copied().unwrap_or([0.0, 1.0, 0.0]),
                color: mesh.colors.as_ref().and_then(|c| c.get(i).copied()).unwrap_or(base_color),
            })
            .collect();
        let edges: Vec<u32> = mesh.indices.chunks_exact(3).flat_map(|t| [t[0], t[1], t[1], t[2], t[2], t[0]]).collect();
        GpuMesh {
            vertices: buffer(device, "mesh vertices", bytemuck::cast_slice(&vertices), wgpu::BufferUsages::VERTEX),
            indices: buffer(device, "mesh indices", bytemuck::cast_slice(&mesh.indices), wgpu::BufferUsages::INDEX),
            index_count: mesh.indices.len() as u32,
            edges: buffer(device, "mesh edges", bytemuck::cast_slice(&edges), wgpu::BufferUsages::INDEX),
            edge_count: edges.len() as u32,
        }
    }

    /// Draws the meshes' triangles.
    pub(super) fn draw(&self, pass: &mut wgpu::RenderPass<'_>, meshes: &[GpuMesh]) {
        pass.set_pipeline(&self.mesh);
        // A mesh without triangles has empty buffers, which wgpu cannot bind (a panic): skipped.
        for m in meshes.iter().filter(|m| m.index_count > 0) {
            pass.set_vertex_buffer(0, m.vertices.slice(..));
            pass.set_index_buffer(m.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..m.index_count, 0, 0..1);
        }
    }

    /// Draws the meshes' triangle edges.
    pub(super) fn draw_wireframe(&self, pass: &mut wgpu::RenderPass<'_>, meshes: &[GpuMesh]) {
        pass.set_pipeline(&self.wireframe);
        for m in meshes.iter().filter(|m| m.edge_count > 0) {
            pass.set_vertex_buffer(0, m.vertices.slice(..));
            pass.set_index_buffer(m.edges.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..m.edge_count, 0, 0..1);
        }
    }
}
