//! Zipf-distributed ranks: rank k (from 0) has weight 1 / (k + 1)^s, so a few rooms are large
//! and busy and most are small and quiet.

use rand::Rng;

pub struct Zipf {
    /// Cumulative weights, normalised to end at 1.
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let weights: Vec<f64> = (0..n.max(1)).map(|k| weight(k, exponent)).collect();
        let total: f64 = weights.iter().sum();
        let cdf = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        Zipf { cdf }
    }

    /// A random rank.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// The unnormalised weight of rank `k`: 1 / (k + 1)^s.
pub fn weight(k: usize, exponent: f64) -> f64 {
    1.0 / ((k + 1) as f64).powf(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn low_ranks_come_up_most() {
        let zipf = Zipf::new(100, 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        // Rank 0 has weight 1, rank 1 one half: about twice as frequent.
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        assert!(counts[0] > counts[99] * 50);
    }
}
