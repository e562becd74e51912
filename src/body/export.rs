//! Body exports: a posed mesh (PLY/GLB) or a skinned GLB (joint nodes posed, inverse bind
//! matrices, JOINTS/WEIGHTS in sets of 4, expression morph targets), in metres and glTF axes.

use glam::{Mat3, Quat, Vec3};

use super::BodyError;
use super::eval::Evaluator;
use super::rig::{BodyParams, JOINT_PARAMS};
use crate::core::geometry::Mesh;
use crate::io::gltf::GltfSkin;

/// A triangle mesh from vertices and triangles (normals computed).
pub fn body_mesh(vertices: Vec<[f32; 3]>, triangles: &[[u32; 3]]) -> Mesh {
    let mut mesh =
        Mesh { positions: vertices, indices: triangles.iter().flatten().copied().collect(), ..Default::default() };
    mesh.normals = Some(mesh.compute_normals());
    mesh
}

/// The evaluator's last pose as a skinned mesh: the bind mesh (blendshapes and that pose's
/// correctives applied) with joints posed, so a glTF viewer's skinning reproduces the pose.
pub fn skinned_export(
    ev: &mut Evaluator,
    params: &BodyParams,
    morph_expressions: bool,
) -> Result<(Mesh, GltfSkin), BodyError> {
    ev.evaluate(params)?;
    let rig = ev.rig.clone();
    let m = rig.metres_per_unit;
    let scale_points =
        |v: Vec<[f32; 3]>| -> Vec<[f32; 3]> { v.into_iter().map(|p| [p[0] * m, p[1] * m, p[2] * m]).collect() };
    let bind = scale_points(ev.bind_vertices());
    let mesh = body_mesh(bind, &ev.lod.triangles);
    let jp = ev.joint_params().to_vec();
    let mut translations = Vec::new();
    let mut rotations = Vec::new();
    let mut scales = Vec::new();
    for j in 0..rig.joint_count() {
        let local = rig.local_transform(j, &jp[j * JOINT_PARAMS..(j + 1) * JOINT_PARAMS]);
        translations.push((local.translation * m).to_array());
        rotations.push(Quat::from_mat3(&orthonormal(local.rotation)).normalize().to_array());
        scales.push(local.scale);
    }
    let inverse_bind = rig
        .inverse_bind()
        .iter()
        .map(|ib| {
            let mut s = *ib;
            s.translation *= m;
            s.to_mat4().to_cols_array()
        })
        .collect();
    let v = ev.lod.vertex_count();
    let morph_targets = if morph_expressions {
        rig.expression_names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let field = &ev.lod.expression[i * v * 3..(i + 1) * v * 3];
                (name.clone(), field.chunks_exact(3).map(|c| [c[0] * m, c[1] * m, c[2] * m]).collect())
            })
            .collect()
    } else {
        Vec::new()
    };
    let skin = GltfSkin {
        joint_names: rig.joint_names.clone(),
        parents: rig.parents.clone(),
        translations,
        rotations,
        scales,
        inverse_bind,
        influences: ev.lod.influences,
        joints: ev.lod.skin_joints.clone(),
        weights: ev.lod.skin_weights.clone(),
        morph_targets,
    };
    Ok((mesh, skin))
}

fn orthonormal(m: Mat3) -> Mat3 {
    let x = m.x_axis.normalize_or(Vec3::X);
    let y = (m.y_axis - x * x.dot(m.y_axis)).normalize_or(Vec3::Y);
    Mat3::from_cols(x, y, x.cross(y))
}
