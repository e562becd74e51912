//! [`GenerationCache`]: something derived from versioned state (textures of the masks, of a mask's
//! hypotheses, of the body over the photo), rebuilt only when the state's generation counter moves.

/// A value built for one generation of its source.
pub struct GenerationCache<T> {
    /// The generation `value` was built for; `None`: never built, or invalidated.
    built_for: Option<u64>,
    value: T,
}

impl<T: Default> Default for GenerationCache<T> {
    fn default() -> Self {
        Self { built_for: None, value: T::default() }
    }
}

impl<T: Default> GenerationCache<T> {
    /// Drops the value; the next [`GenerationCache::update`] rebuilds it.
    pub fn invalidate(&mut self) {
        *self = Self::default();
    }
}

impl<T> GenerationCache<T> {
    /// Whether the value was built for `generation`.
    pub fn is_current(&self, generation: u64) -> bool {
        self.built_for == Some(generation)
    }

    /// The value when it was built for `generation`.
    pub fn get(&self, generation: u64) -> Option<&T> {
        self.is_current(generation).then_some(&self.value)
    }

    /// Stores `value` as built for `generation`.
    pub fn set(&mut self, generation: u64, value: T) {
        self.built_for = Some(generation);
        self.value = value;
    }

    /// The value for `generation`, built by `build` unless it already is.
    pub fn update(&mut self, generation: u64, build: impl FnOnce() -> T) -> &T {
        if !self.is_current(generation) {
            self.set(generation, build());
        }
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_only_when_the_generation_moves() {
        let mut cache: GenerationCache<Vec<u64>> = GenerationCache::default();
        let mut builds = 0;
        let mut build = |g: u64| {
            builds += 1;
            vec![g]
        };
        assert_eq!(cache.get(0), None);
        assert_eq!(cache.update(0, || build(0)), &[0]);
        assert_eq!(cache.update(0, || build(0)), &[0]);
        assert_eq!(cache.update(1, || build(1)), &[1]);
        cache.invalidate();
        assert!(!cache.is_current(1));
        assert_eq!(cache.update(1, || build(1)), &[1]);
        assert_eq!(builds, 3);
        cache.set(7, vec![70]);
        assert_eq!(cache.get(7), Some(&vec![70]));
    }
}
