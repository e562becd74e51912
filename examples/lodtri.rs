//! Builds every MHR LOD triangulation from the embedded data; prints counts, shape quality
//! (median, mean, share below 0.1), manifold checks and timings; writes /tmp/lodN.ply.
use carve::body::lod::*;
fn main() {
    let d = MhrLods::embedded();
    for lod in [6, 5, 4, 3, 2, 0] {
        let t0 = std::time::Instant::now();
        let map = d.maps[lod].as_ref().unwrap();
        let tris = triangulate_on_surface(&d.rest_lod1, &d.triangles_lod1, map);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match tris {
            Ok(t) => {
                let m = carve::core::geometry::Mesh {
                    positions: map.apply(&d.rest_lod1, &d.triangles_lod1),
                    normals: None,
                    colors: None,
                    indices: t.iter().flatten().copied().collect(),
                };
                carve::io::ply::write_mesh_ply(std::path::Path::new(&format!("/tmp/lod{lod}.ply")), &m).unwrap();
                let q = quality(&m);
                println!(
                    "lod {lod}: q {q:?} {} tris (official {}), {ms:.0} ms, {:?}",
                    t.len(),
                    LOD_TRIANGLE_COUNTS[lod],
                    check_closed_manifold(&t, map.len())
                )
            }
            Err(e) => println!("lod {lod}: {e} {ms:.0} ms"),
        }
    }
}

fn quality(m: &carve::core::geometry::Mesh) -> (f32, f32, f32) {
    let mut qs: Vec<f32> = m
        .indices
        .chunks(3)
        .map(|t| {
            let p = |i: u32| glam::Vec3::from_array(m.positions[i as usize]);
            let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
            let e = a.distance_squared(b) + b.distance_squared(c) + c.distance_squared(a);
            2.0 * 3f32.sqrt() * (b - a).cross(c - a).length() / e
        })
        .collect();
    qs.sort_by(|a, b| a.total_cmp(b));
    let low = qs.iter().filter(|&&q| q < 0.1).count() as f32 / qs.len() as f32;
    (qs[qs.len() / 2], qs.iter().sum::<f32>() / qs.len() as f32, low)
}
