//! Round trips and malformed files.

use std::path::Path;

use super::*;
use crate::core::geometry::{Mesh, Splats};

fn two_splats(degree: u8) -> Splats {
    let coeffs = (degree as usize + 1).pow(2);
    Splats {
        positions: vec![[0.0, 1.0, 2.0], [-1.0, 0.5, 3.0]],
        scales: vec![[0.1, 0.2, 0.3], [0.05, 0.05, 0.05]],
        rotations: vec![[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]],
        opacities: vec![0.9, 0.25],
        sh_degree: degree,
        sh: (0..2 * coeffs * 3).map(|i| i as f32 * 0.01 - 0.2).collect(),
    }
}

#[test]
fn splats_round_trip_every_degree() {
    let dir = tempfile::tempdir().unwrap();
    for degree in 0..=3 {
        let s = two_splats(degree);
        let path = dir.path().join(format!("s{degree}.ply"));
        write_splats_ply(&path, &s).unwrap();
        let PlyContent::Splats(back) = read_ply(&path).unwrap() else { panic!("not splats") };
        assert_eq!(back.sh_degree, degree);
        assert_eq!(back.positions, s.positions);
        for (a, b) in back.sh.iter().zip(&s.sh) {
            assert!((a - b).abs() < 1e-6);
        }
        for (a, b) in back.opacities.iter().zip(&s.opacities) {
            assert!((a - b).abs() < 1e-5);
        }
        for (a, b) in back.scales.iter().flatten().zip(s.scales.iter().flatten()) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}

#[test]
fn mesh_round_trip_and_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = Mesh {
        positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]],
        normals: None,
        colors: Some(vec![[1.0, 0.0, 0.0, 1.0]; 4]),
        indices: vec![0, 1, 2, 2, 1, 3],
    };
    let path = dir.path().join("m.ply");
    write_mesh_ply(&path, &mesh).unwrap();
    assert_eq!(read_ply(&path).unwrap(), PlyContent::Mesh(mesh));
    let ascii = b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n";
    let PlyContent::Mesh(quad) = read_ply_bytes(ascii, Path::new("q.ply")).unwrap() else { panic!() };
    assert_eq!(quad.indices, vec![0, 1, 2, 0, 2, 3]);
}

#[test]
fn malformed_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.ply");
    write_splats_ply(&path, &two_splats(1)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let name = Path::new("cut.ply");
    let err = read_ply_bytes(&bytes[..bytes.len() - 10], name).unwrap_err();
    assert!(matches!(err, PlyError::Truncated { .. }) && err.to_string().contains("cut.ply"), "{err}");
    // A header that lies: 10⁹ vertices in a tiny file fails before allocating.
    let text = String::from_utf8_lossy(&bytes[..200]).into_owned();
    let lying = [text.replacen("element vertex 2", "element vertex 1000000000", 1).as_bytes(), &bytes[200..]].concat();
    assert!(matches!(read_ply_bytes(&lying, name).unwrap_err(), PlyError::Truncated { .. }));
    // NaN scale.
    let mut s = two_splats(0);
    s.scales[1][0] = f32::NAN;
    write_splats_ply(&path, &s).unwrap();
    assert!(read_ply(&path).unwrap_err().to_string().contains("splat 1"));
    // Missing property, not a PLY, wrong f_rest count.
    let no_y = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float z\nend_header\n1 2\n";
    assert!(read_ply_bytes(no_y, name).unwrap_err().to_string().contains("'y'"));
    assert!(matches!(read_ply_bytes(b"solid stl", name).unwrap_err(), PlyError::Header { .. }));
    let odd_rest = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nproperty float f_dc_0\nproperty float f_dc_1\nproperty float f_dc_2\nproperty float f_rest_0\nproperty float opacity\nproperty float scale_0\nproperty float scale_1\nproperty float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\nproperty float rot_3\nend_header\n0 0 0 0 0 0 0 0 0 0 0 1 0 0 0\n";
    assert!(read_ply_bytes(odd_rest, name).unwrap_err().to_string().contains("SH degree"));
}
