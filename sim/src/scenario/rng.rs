//! The scenarios' own randomness ([`fixtures::rng`]). turmoil draws from
//! its own generator (seeded with the same seed); keeping the two apart
//! means a change in how often turmoil draws never changes which steps a
//! seed generates.

pub use fixtures::rng::SeededRng as Rng;

/// The scenarios' generator for `seed`, decorrelated from turmoil's,
/// which takes the seed as it is.
pub fn for_seed(seed: u64) -> Rng {
    Rng::new(seed ^ 0x5eed_7c0f_f1ce_0001)
}
