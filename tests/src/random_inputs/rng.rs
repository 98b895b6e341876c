//! The generator's randomness ([`fixtures::rng`]): every input is
//! reproducible from the seed the test prints.

pub use fixtures::rng::SeededRng as Rng;

/// The generator of `seed`.
pub fn for_seed(seed: u64) -> Rng {
    Rng::new(seed ^ 0x7c0f_f10e_5eed_0013)
}
