//! Prompts for segmentation: positive/negative points, a box, and a text concept.
//!
//! Coordinates are continuous pixels (see [`crate::core`]); `"x,y"` and `"x0,y0,x1,y1"` parse from
//! the command line.

use serde::{Deserialize, Serialize};

/// Errors from parsing or validating a prompt.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromptError {
    #[error("cannot parse {what} {text:?}: expected {expected}")]
    Parse { what: &'static str, text: String, expected: &'static str },
    #[error("{what} ({x}, {y}) lies outside the {width}×{height} image")]
    OutOfBounds { what: &'static str, x: f32, y: f32, width: u32, height: u32 },
    #[error("box has no area: {x0},{y0},{x1},{y1}")]
    EmptyBox { x0: f32, y0: f32, x1: f32, y1: f32 },
    #[error("the prompt is empty: give a point, a box or a text")]
    Empty,
    #[error("the text prompt is {chars} characters long; at most {max} are read (a concept is a few words)")]
    TextTooLong { chars: usize, max: usize },
    #[error(
        "a text prompt finds every instance of the concept and cannot be combined with points or a box; \
         segment by text, then click on the instance you want"
    )]
    TextWithGeometry,
}

/// The longest text prompt Carve accepts, in characters (SAM 3 reads 32 tokens).
pub const MAX_TEXT_CHARS: usize = 1000;

/// Whether a point marks the object (positive) or the background (negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointLabel {
    Positive,
    Negative,
}

/// A click at continuous pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointPrompt {
    pub x_px: f32,
    pub y_px: f32,
    pub label: PointLabel,
}

/// An axis-aligned box in continuous pixel coordinates, `x0 < x1`, `y0 < y1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxPrompt {
    pub x0_px: f32,
    pub y0_px: f32,
    pub x1_px: f32,
    pub y1_px: f32,
}

/// Everything a user said about one object (or, with text, one concept).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub points: Vec<PointPrompt>,
    pub bbox: Option<BoxPrompt>,
    pub text: Option<String>,
}

fn parse_floats<const N: usize>(
    text: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<[f32; N], PromptError> {
    let err = || PromptError::Parse { what, text: text.to_owned(), expected };
    let parts: Vec<f32> =
        text.split(',').map(|p| p.trim().parse::<f32>().map_err(|_| err())).collect::<Result<_, _>>()?;
    let arr: [f32; N] = parts.try_into().map_err(|_| err())?;
    if arr.iter().all(|v| v.is_finite()) { Ok(arr) } else { Err(err()) }
}

impl PointPrompt {
    /// Parses `"x,y"` with the given label.
    pub fn parse(text: &str, label: PointLabel) -> Result<Self, PromptError> {
        let [x_px, y_px] = parse_floats::<2>(text, "point", "x,y in pixels")?;
        Ok(Self { x_px, y_px, label })
    }
}

impl std::str::FromStr for BoxPrompt {
    type Err = PromptError;

    /// Parses `"x0,y0,x1,y1"` (corners in any order).
    fn from_str(text: &str) -> Result<Self, PromptError> {
        let [a, b, c, d] = parse_floats::<4>(text, "box", "x0,y0,x1,y1 in pixels")?;
        let bx = Self { x0_px: a.min(c), y0_px: b.min(d), x1_px: a.max(c), y1_px: b.max(d) };
        if bx.x1_px - bx.x0_px < 1.0 || bx.y1_px - bx.y0_px < 1.0 {
            return Err(PromptError::EmptyBox { x0: a, y0: b, x1: c, y1: d });
        }
        Ok(bx)
    }
}

impl Prompt {
    /// Checks the prompt is non-empty and inside a `width`×`height` image.
    pub fn validate(&self, width: u32, height: u32) -> Result<(), PromptError> {
        if let Some(text) = &self.text {
            // Checked before anything tokenises it: a megabyte of text is refused at once.
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(PromptError::TextTooLong { chars, max: MAX_TEXT_CHARS });
            }
        }
        let has_text = self.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        if self.points.is_empty() && self.bbox.is_none() && !has_text {
            return Err(PromptError::Empty);
        }
        if has_text && (!self.points.is_empty() || self.bbox.is_some()) {
            return Err(PromptError::TextWithGeometry);
        }
        let (w, h) = (width as f32, height as f32);
        let inside = |x: f32, y: f32| (0.0..=w).contains(&x) && (0.0..=h).contains(&y);
        for p in &self.points {
            if !inside(p.x_px, p.y_px) {
                return Err(PromptError::OutOfBounds { what: "point", x: p.x_px, y: p.y_px, width, height });
            }
        }
        if let Some(b) = self.bbox {
            for (x, y) in [(b.x0_px, b.y0_px), (b.x1_px, b.y1_px)] {
                if !inside(x, y) {
                    return Err(PromptError::OutOfBounds { what: "box corner", x, y, width, height });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_and_boxes() {
        let p = PointPrompt::parse(" 12.5, 7", PointLabel::Negative).unwrap();
        assert_eq!((p.x_px, p.y_px, p.label), (12.5, 7.0, PointLabel::Negative));
        let b: BoxPrompt = "30,40,10,20".parse().unwrap();
        assert_eq!((b.x0_px, b.y0_px, b.x1_px, b.y1_px), (10.0, 20.0, 30.0, 40.0));
        assert!("1,2,3".parse::<BoxPrompt>().is_err());
        assert!("1,2,1,9".parse::<BoxPrompt>().is_err());
        assert!(PointPrompt::parse("nan,3", PointLabel::Positive).is_err());
    }

    #[test]
    fn validates_against_image() {
        let mut prompt = Prompt::default();
        assert_eq!(prompt.validate(10, 10), Err(PromptError::Empty));
        prompt.points.push(PointPrompt { x_px: 11.0, y_px: 2.0, label: PointLabel::Positive });
        assert!(matches!(prompt.validate(10, 10), Err(PromptError::OutOfBounds { .. })));
        prompt.points[0].x_px = 5.0;
        assert_eq!(prompt.validate(10, 10), Ok(()));
    }
}
