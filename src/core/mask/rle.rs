//! COCO run-length encoding, bit-exact with pycocotools: the counts (column-major runs starting
//! with zeros), the compressed string (`rleToString` / `rleFrString`) and the JSON form.

use serde::{Deserialize, Serialize};

use super::{Mask, MaskError};

impl Mask {
    /// COCO run-length encoding (column-major runs, starting with a run of zeros).
    pub fn to_coco_rle(&self) -> CocoRle {
        let mut counts = Vec::new();
        let mut current = 0u8;
        let mut run = 0u32;
        for x in 0..self.width {
            for y in 0..self.height {
                let b = self.bits[self.index(x, y)];
                if b != current {
                    counts.push(run);
                    run = 0;
                    current = b;
                }
                run += 1;
            }
        }
        counts.push(run);
        CocoRle { height: self.height, width: self.width, counts }
    }

    /// Decodes a COCO RLE; the counts must cover the mask exactly.
    pub fn from_coco_rle(rle: &CocoRle) -> Result<Self, MaskError> {
        let pixels = u64::from(rle.width) * u64::from(rle.height);
        let sum: u64 = rle.counts.iter().map(|&c| u64::from(c)).sum();
        if sum != pixels {
            return Err(MaskError::RleLength { sum, width: rle.width, height: rle.height, pixels });
        }
        if pixels > crate::core::image::Image::MAX_PIXELS {
            return Err(MaskError::TooLarge { width: rle.width, height: rle.height });
        }
        let mut mask = Mask::new(rle.width, rle.height);
        let h = rle.height as u64;
        let mut pos = 0u64;
        for (i, &count) in rle.counts.iter().enumerate() {
            if i % 2 == 1 {
                for p in pos..pos + u64::from(count) {
                    let (x, y) = ((p / h) as u32, (p % h) as u32);
                    let idx = mask.index(x, y);
                    mask.bits[idx] = 1;
                }
            }
            pos += u64::from(count);
        }
        Ok(mask)
    }
}

/// COCO run-length encoding of a mask: `counts` alternate runs of 0 and 1 in column-major
/// (Fortran) order, starting with zeros. Serialises as pycocotools does:
/// `{"size": [height, width], "counts": "<compressed string>"}`; reads either the string or a
/// plain list of counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CocoRle {
    pub height: u32,
    pub width: u32,
    pub counts: Vec<u32>,
}

impl CocoRle {
    /// pycocotools' compressed string (`rleToString`): each count (delta-coded against the count
    /// two places back, from the third on) in little-endian 5-bit groups, offset by 48.
    pub fn to_compressed_string(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for (i, &count) in self.counts.iter().enumerate() {
            let mut x = i64::from(count);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut c = x & 0x1f;
                x >>= 5;
                let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    c |= 0x20;
                }
                s.push(char::from((c + 48) as u8));
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// Parses pycocotools' compressed string (`rleFrString`).
    pub fn from_compressed_string(height: u32, width: u32, s: &str) -> Result<Self, MaskError> {
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::new();
        let mut values: Vec<i64> = Vec::new();
        let mut p = 0;
        while p < bytes.len() {
            let mut x: i64 = 0;
            let mut k = 0u32;
            loop {
                let Some(&byte) = bytes.get(p) else {
                    return Err(MaskError::RleString { offset: p, reason: "string ends inside a count" });
                };
                if !(48..48 + 64).contains(&byte) {
                    return Err(MaskError::RleString { offset: p, reason: "character outside the RLE alphabet" });
                }
                if k >= 12 {
                    return Err(MaskError::RleString { offset: p, reason: "count too long" });
                }
                let c = i64::from(byte - 48);
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = values.len();
            if m > 2 {
                x += values[m - 2];
            }
            if x < 0 || x > i64::from(u32::MAX) {
                return Err(MaskError::RleNegative { index: m, value: x });
            }
            values.push(x);
            counts.push(x as u32);
        }
        Ok(Self { height, width, counts })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CountsJson {
    Compressed(String),
    Plain(Vec<i64>),
}

#[derive(Serialize, Deserialize)]
struct RleJson {
    size: [u32; 2],
    counts: CountsJson,
}

impl Serialize for CocoRle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RleJson { size: [self.height, self.width], counts: CountsJson::Compressed(self.to_compressed_string()) }
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CocoRle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = RleJson::deserialize(deserializer)?;
        let [height, width] = json.size;
        match json.counts {
            CountsJson::Compressed(s) => {
                CocoRle::from_compressed_string(height, width, &s).map_err(serde::de::Error::custom)
            }
            CountsJson::Plain(values) => {
                let counts = values
                    .iter()
                    .enumerate()
                    .map(|(index, &value)| u32::try_from(value).map_err(|_| MaskError::RleNegative { index, value }))
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(serde::de::Error::custom)?;
                Ok(CocoRle { height, width, counts })
            }
        }
    }
}
