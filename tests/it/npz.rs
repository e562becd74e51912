//! `.npz` reading against numpy: numpy writes arrays of every dtype Carve accepts (little and big
//! endian, Fortran order, float16, bool, int64 beyond 2^53), Carve reads them back exactly.

use carve::io::npz::Npz;

use crate::common;

#[test]
fn every_numpy_dtype_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.npz");
    let script = r#"
import sys, numpy as np
big = 2**53 + 1
np.savez(sys.argv[1],
    f2=np.array([0.5, -2.0, 65504.0], dtype=np.float16),
    f4=np.array([[1.5, -0.25], [3.0, 1e-3]], dtype='<f4'),
    f8be=np.array([1.0 / 3.0, -7.25], dtype='>f8'),
    i8=np.array([big, -big, 42], dtype=np.int64),
    i2be=np.array([-300, 300], dtype='>i2'),
    u4=np.array([4000000000], dtype=np.uint32),
    u8big=np.array([2**63], dtype=np.uint64),
    b=np.array([True, False, True]),
    fort=np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    rec=np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]),
)
"#;
    common::run_python(&["-c".as_ref(), script.as_ref(), path.as_os_str()]);
    let mut npz = Npz::open(&path).unwrap();
    assert_eq!(npz.f64("f2").unwrap().data, [0.5, -2.0, 65504.0]);
    let f4 = npz.f64("f4").unwrap();
    assert_eq!(f4.shape, [2, 2]);
    assert_eq!(f4.data, [1.5, -0.25, 3.0, f64::from(1e-3f32)]);
    assert_eq!(npz.f64("f8be").unwrap().data, [1.0 / 3.0, -7.25]);
    // int64 beyond 2^53 survives (it did not when integers went through f64).
    let big = (1i64 << 53) + 1;
    assert_eq!(npz.i64("i8").unwrap().data, [big, -big, 42]);
    assert_eq!(npz.i64("i2be").unwrap().data, [-300, 300]);
    assert_eq!(npz.i64("u4").unwrap().data, [4_000_000_000]);
    assert!(npz.i64("u8big").unwrap_err().to_string().contains("does not fit"));
    assert_eq!(npz.f64("b").unwrap().data, [1.0, 0.0, 1.0]);
    // Quantities are never read from a bool array.
    assert!(npz.f64_numbers("b").unwrap_err().to_string().contains("bool"));
    // Fortran order comes out in C order.
    let fort = npz.f64("fort").unwrap();
    assert_eq!((fort.shape, fort.data), (vec![2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    let err = npz.f64("rec").unwrap_err().to_string();
    assert!(err.contains("all.npz") && err.contains("'rec'") && err.contains("structured"), "{err}");
    assert!(npz.i64("f4").unwrap_err().to_string().contains("expected integers"));
    let missing = npz.f64("nope").unwrap_err().to_string();
    assert!(missing.contains("no array named 'nope'") && missing.contains("f4"), "{missing}");
}
