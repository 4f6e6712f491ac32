//! Shared by the alternating labs (`ab_conv`, `ab_bn`): settings `VAR=VALUE[,...]` (`-` for
//! none) put into this process's environment before each call, the bit-for-bit comparison
//! with the first setting's results, and the medians they report.

/// The settings, and every variable some setting names (a setting that does not name one
/// runs with it removed).
pub struct Settings {
    pub list: Vec<String>,
    names: Vec<String>,
}

impl Settings {
    pub fn new(list: Vec<String>) -> Settings {
        let names = list
            .iter()
            .flat_map(|s| s.split(','))
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
            .collect();
        Settings { list, names }
    }

    /// Puts setting `i`'s variables into the environment (and takes out the others'),
    /// calling `hook` with each it sets, for variables the caller applies itself.
    pub fn apply(&self, i: usize, mut hook: impl FnMut(&str, &str)) {
        for k in &self.names {
            // SAFETY: the labs run one thread of their own; the engine reads these variables
            // only when it builds a kernel spec, on that thread.
            unsafe { std::env::remove_var(k) };
        }
        for kv in self.list[i].split(',').filter(|kv| kv.contains('=')) {
            let (k, v) = kv.split_once('=').unwrap();
            hook(k, v);
            // SAFETY: as above.
            unsafe { std::env::set_var(k, v) };
        }
    }
}

impl Settings {
    /// Rounds 0 to `rounds`, each running every setting once, the order rotated a place a
    /// round: `run(k, warm_up)` after setting k's variables are put in place (`hook` as in
    /// `apply`). Round 0 is the warm-up; returns each setting's results of the others.
    pub fn alternate<T>(
        &self,
        rounds: usize,
        mut hook: impl FnMut(&str, &str),
        mut run: impl FnMut(usize, bool) -> T,
    ) -> Vec<Vec<T>> {
        let count = self.list.len();
        let mut out: Vec<Vec<T>> = (0..count).map(|_| Vec::new()).collect();
        for r in 0..=rounds {
            for i in 0..count {
                let k = (i + r) % count;
                self.apply(k, &mut hook);
                let got = run(k, r == 0);
                if r > 0 {
                    out[k].push(got);
                }
            }
        }
        out
    }
}

/// The first setting's results, against which each later setting's are compared bit for bit.
#[derive(Default)]
pub struct Reference(Option<Vec<f32>>);

impl Reference {
    /// Keeps `got` if it is the first; else prints how many of its values differ.
    pub fn check(&mut self, label: &str, got: Vec<f32>) {
        match &self.0 {
            None => self.0 = Some(got),
            Some(want) => println!(
                "{label}: {} values differ from the first setting",
                differing_bits(want, &got)
            ),
        }
    }
}

/// How many values differ in their bits.
fn differing_bits(want: &[f32], got: &[f32]) -> usize {
    want.iter()
        .zip(got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count()
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The median of setting `k`'s per-round ratios to the first setting's times.
pub fn ratio_to_first(times: &[Vec<f64>], k: usize) -> f64 {
    let ratios: Vec<f64> = times[k].iter().zip(&times[0]).map(|(a, b)| a / b).collect();
    median(&ratios)
}

/// Prints each setting's median time a round (ms) and its per-round ratio to the first
/// setting's, with the rounds (ab_conv and ab_gemm print FLOP rates their own way).
#[allow(dead_code)]
pub fn report(settings: &Settings, times: &[Vec<f64>]) {
    for (k, s) in settings.list.iter().enumerate() {
        println!(
            "[{s}] median {:.1} ms, ratio to first {:.3}, rounds {:?}",
            median(&times[k]),
            ratio_to_first(times, k),
            times[k]
                .iter()
                .map(|t| t.round() as i64)
                .collect::<Vec<_>>()
        );
    }
}
