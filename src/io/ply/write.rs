//! PLY writers: splats in the standard 3DGS binary layout and triangle meshes, written atomically.

use std::path::Path;

use crate::core::fs::{FileError, write_atomic_with};
use crate::core::geometry::{Mesh, Splats};

/// Writes splats in the standard 3DGS binary layout (readable by SuperSplat, brush, plyfile).
pub fn write_splats_ply(path: &Path, splats: &Splats) -> Result<(), FileError> {
    let coeffs = splats.sh_coeffs();
    let rest = (coeffs - 1) * 3;
    let mut header =
        format!("ply\nformat binary_little_endian 1.0\ncomment written by Carve\nelement vertex {}\n", splats.len());
    for name in ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] {
        header += &format!("property float {name}\n");
    }
    for k in 0..rest {
        header += &format!("property float f_rest_{k}\n");
    }
    for name in ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"] {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    write_atomic_with(path, |w| {
        use std::io::Write;
        w.write_all(header.as_bytes())?;
        let mut row: Vec<f32> = Vec::with_capacity(17 + rest);
        for i in 0..splats.len() {
            row.clear();
            row.extend(splats.positions[i]);
            row.extend([0.0; 3]);
            let sh = &splats.sh[i * coeffs * 3..(i + 1) * coeffs * 3];
            row.extend(&sh[..3]);
            for c in 0..3 {
                for j in 1..coeffs {
                    row.push(sh[j * 3 + c]);
                }
            }
            let o = splats.opacities[i].clamp(1e-6, 1.0 - 1e-6);
            row.push((o / (1.0 - o)).ln());
            row.extend(splats.scales[i].map(f32::ln));
            row.extend(splats.rotations[i]);
            for v in &row {
                w.write_all(&v.to_le_bytes())?;
            }
        }
        Ok(())
    })
}

/// Writes a triangle mesh (positions, optional 8-bit colours, faces) as binary PLY.
pub fn write_mesh_ply(path: &Path, mesh: &Mesh) -> Result<(), FileError> {
    let mut header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment written by Carve\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n",
        mesh.positions.len()
    );
    if mesh.colors.is_some() {
        header += "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n";
    }
    header += &format!("element face {}\nproperty list uchar int vertex_indices\nend_header\n", mesh.triangle_count());
    write_atomic_with(path, |w| {
        use std::io::Write;
        w.write_all(header.as_bytes())?;
        for (i, p) in mesh.positions.iter().enumerate() {
            for v in p {
                w.write_all(&v.to_le_bytes())?;
            }
            if let Some(colors) = &mesh.colors {
                let c = colors.get(i).copied().unwrap_or([1.0; 4]);
                w.write_all(&c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8))?;
            }
        }
        for tri in mesh.indices.chunks_exact(3) {
            w.write_all(&[3u8])?;
            for &i in tri {
                w.write_all(&(i as i32).to_le_bytes())?;
            }
        }
        Ok(())
    })
}
