//! A size-bucketed pool of storage buffers, so that a training step reuses last step's allocations.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Buffers are bucketed into classes of four steps per power of two (at most 25% slack), so
/// that activations of similar size share buffers without wasting half the memory.
fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = 63 - (b - 1).leading_zeros() as u64; // 2^p < b <= 2^(p+1)
    let step = (1u64 << p) / 4;
    b.div_ceil(step) * step
}

#[derive(Default)]
struct Inner {
    /// Free buffers per size class, by creation number. Handing out the lowest number makes
    /// the choice depend only on which buffers are free, not on the order they were dropped in
    /// (hash-map iteration varies it), so each step binds the same buffers as the last and
    /// finds its bind groups cached.
    free: HashMap<u64, BTreeMap<u64, wgpu::Buffer>>,
    created: u64,
    live_bytes: u64,
    pooled_bytes: u64,
    peak_bytes: u64,
}

/// The pool hands out `Storage`, which returns its buffer on drop.
#[derive(Clone)]
pub struct Pool {
    device: wgpu::Device,
    inner: Arc<Mutex<Inner>>,
    /// At most this many bytes held (in use or free), when set.
    budget: Option<u64>,
}

impl Pool {
    pub fn new(device: wgpu::Device, budget: Option<u64>) -> Self {
        Pool {
            device,
            inner: Arc::default(),
            budget,
        }
    }

    /// A buffer of at least `bytes`, reused when one is free; `None` when the device (or the
    /// budget) has no room for a new one.
    pub fn alloc(&self, bytes: u64) -> Option<Storage> {
        let class = size_class(bytes);
        let mut g = self.inner.lock().unwrap();
        let (id, buffer) = match g.free.get_mut(&class).and_then(|v| v.pop_first()) {
            Some(b) => {
                g.pooled_bytes -= class;
                b
            }
            None => {
                if self
                    .budget
                    .is_some_and(|b| g.live_bytes + g.pooled_bytes + class > b)
                {
                    return None;
                }
                let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
                let b = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                if pollster::block_on(scope.pop()).is_some() {
                    return None;
                }
                g.created += 1;
                (g.created, b)
            }
        };
        g.live_bytes += class;
        g.peak_bytes = g.peak_bytes.max(g.live_bytes + g.pooled_bytes);
        Some(Storage {
            id,
            buffer: Some(buffer),
            bytes,
            class,
            pool: self.inner.clone(),
        })
    }

    /// Bytes held on the device by this pool, in use or free, at the high-water mark.
    pub fn peak_bytes(&self) -> u64 {
        self.inner.lock().unwrap().peak_bytes
    }

    pub fn reset_peak(&self) {
        let mut g = self.inner.lock().unwrap();
        g.peak_bytes = g.live_bytes + g.pooled_bytes;
    }

    /// Frees the buffers nobody uses; the next step will allocate afresh.
    pub fn trim(&self) {
        let mut g = self.inner.lock().unwrap();
        g.free.clear();
        g.pooled_bytes = 0;
    }
}

/// A device buffer of at least `bytes` bytes, owned by one tensor (or shared through `Arc`).
pub struct Storage {
    id: u64,
    buffer: Option<wgpu::Buffer>,
    bytes: u64,
    class: u64,
    pool: Arc<Mutex<Inner>>,
}

impl Storage {
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("storage used after drop")
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Storage {
    // Returning a buffer that pending, unsubmitted commands still read is safe: the GPU runs
    // the recorded commands in order, so a later writer always comes after the earlier reader.
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            let mut g = self.pool.lock().unwrap();
            g.live_bytes -= self.class;
            g.pooled_bytes += self.class;
            g.free.entry(self.class).or_default().insert(self.id, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn classes_cover_the_request_with_at_most_a_quarter_slack() {
        for bytes in [
            1u64, 255, 256, 257, 1000, 4096, 4097, 100_000, 33_554_432, 33_554_433,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes);
            assert!(c <= bytes.max(256) * 5 / 4 + 1, "{bytes} -> {c}");
            assert_eq!(c % 4, 0);
        }
    }
}
