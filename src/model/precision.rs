//! Numeric precision of a model's image encoder — fp32, or bf16 (weights and matrix products in
//! bfloat16, LayerNorm/softmax in fp32, fp32 outputs: what `torch.autocast` runs; the exporters
//! write it as the `image_encoder_bf16` role) — and which one `auto` picks on this machine.
//!
//! `auto` takes bf16 only where the CPU multiplies bf16 natively (AMX-BF16 or AVX-512-BF16, read
//! from `/proc/cpuinfo`) and the folder has a bf16 encoder; elsewhere bf16 is emulated through
//! fp32 and slower, so `auto` keeps fp32. Measured on the full SAM 3 encoder, 2 threads, AMX:
//! bf16 6.1 s vs fp32 19–30 s, 0.8 % mean relative error on the features (BENCHMARKS.md).
//! int8 is not offered: `quantize_dynamic` on the Linear layers was slower than bf16 here
//! (17.7 s) and 22 % off on random weights.

use serde::{Deserialize, Serialize};

/// What the user asked for (`--precision`, the window's picker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// bf16 where the CPU has AMX-BF16 / AVX-512-BF16 and the model folder has a bf16 encoder, else fp32.
    #[default]
    Auto,
    Fp32,
    Bf16,
}

/// The precision an encoder runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Bf16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        }
    }

    /// The manifest role of the image encoder at this precision.
    pub fn encoder_role(self) -> &'static str {
        match self {
            Self::Fp32 => "image_encoder",
            Self::Bf16 => "image_encoder_bf16",
        }
    }
}

/// The CPU features that decide the precision (and that `carve models` reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx_vnni: bool,
    pub avx512_bf16: bool,
    pub amx_bf16: bool,
}

impl CpuFeatures {
    /// Whether the CPU multiplies bf16 natively.
    pub fn native_bf16(&self) -> bool {
        self.avx512_bf16 || self.amx_bf16
    }

    /// The features of a `/proc/cpuinfo` text (the first `flags` line).
    pub fn from_cpuinfo(text: &str) -> Self {
        let flags: Vec<&str> = text
            .lines()
            .find(|l| l.starts_with("flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, f)| f.split_whitespace().collect())
            .unwrap_or_default();
        let has = |name: &str| flags.contains(&name);
        Self {
            avx2: has("avx2"),
            fma: has("fma"),
            avx512f: has("avx512f"),
            avx_vnni: has("avx_vnni"),
            avx512_bf16: has("avx512_bf16"),
            amx_bf16: has("amx_bf16"),
        }
    }
}

/// This machine's CPU features (`/proc/cpuinfo`; none known elsewhere, so `auto` stays fp32).
pub fn cpu_features() -> CpuFeatures {
    // Bounded read: cpuinfo is a few KB per core.
    let text = std::fs::File::open("/proc/cpuinfo")
        .and_then(|f| {
            use std::io::Read;
            let mut s = String::new();
            f.take(4 << 20).read_to_string(&mut s)?;
            Ok(s)
        })
        .unwrap_or_default();
    CpuFeatures::from_cpuinfo(&text)
}

impl PrecisionChoice {
    /// The precision to run, given whether the folder has a bf16 encoder and the CPU's features,
    /// with a note when the choice deserves one (logged by the caller); an error line when the
    /// user asked for bf16 and the folder has none.
    pub fn resolve(self, folder_has_bf16: bool, cpu: &CpuFeatures) -> Result<(Precision, Option<String>), String> {
        match self {
            Self::Fp32 => Ok((Precision::Fp32, None)),
            Self::Bf16 if !folder_has_bf16 => Err("the model folder has no bf16 image encoder \
                 (`image_encoder_bf16` in [files]); export it again without --no-bf16, or use --precision fp32"
                .into()),
            Self::Bf16 if !cpu.native_bf16() => Ok((
                Precision::Bf16,
                Some(
                    "this CPU has neither AMX-BF16 nor AVX-512-BF16: bf16 runs emulated, probably slower than fp32"
                        .into(),
                ),
            )),
            Self::Bf16 => Ok((Precision::Bf16, None)),
            Self::Auto if folder_has_bf16 && cpu.native_bf16() => Ok((Precision::Bf16, None)),
            Self::Auto if folder_has_bf16 => Ok((
                Precision::Fp32,
                Some("auto precision: fp32 (this CPU has neither AMX-BF16 nor AVX-512-BF16)".into()),
            )),
            Self::Auto => Ok((Precision::Fp32, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_bf16_only_where_it_is_native_and_exported() {
        let amx = CpuFeatures::from_cpuinfo("processor: 0\nflags\t\t: fpu avx2 fma avx512f avx512_bf16 amx_bf16\n");
        let avx2 = CpuFeatures::from_cpuinfo("flags : fpu avx2 fma avx_vnni\n");
        assert!(amx.native_bf16() && amx.avx512f && !avx2.native_bf16() && avx2.avx_vnni);
        let pick = |c: PrecisionChoice, has: bool, cpu: &CpuFeatures| c.resolve(has, cpu).map(|r| r.0);
        assert_eq!(pick(PrecisionChoice::Auto, true, &amx), Ok(Precision::Bf16));
        assert_eq!(pick(PrecisionChoice::Auto, false, &amx), Ok(Precision::Fp32));
        assert_eq!(pick(PrecisionChoice::Auto, true, &avx2), Ok(Precision::Fp32));
        assert_eq!(pick(PrecisionChoice::Fp32, true, &amx), Ok(Precision::Fp32));
        assert_eq!(pick(PrecisionChoice::Bf16, true, &avx2), Ok(Precision::Bf16), "asked for: runs, with a note");
        assert!(PrecisionChoice::Bf16.resolve(true, &avx2).unwrap().1.is_some());
        assert!(pick(PrecisionChoice::Bf16, false, &amx).is_err(), "no bf16 file: an error, not fp32");
        assert_eq!(CpuFeatures::from_cpuinfo(""), CpuFeatures::default());
    }
}
