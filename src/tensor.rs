//! `Tensor`: f32 data in a pooled GPU buffer with a shape. Cloning and reshaping share the buffer.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{Bind, Gpu, Storage};

#[derive(Clone)]
pub struct Tensor {
    gpu: Gpu,
    storage: Arc<Storage>,
    /// Byte offset of this view in the buffer (parameter arenas hold many tensors).
    offset: u64,
    shape: Vec<usize>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Tensor {
    /// A tensor whose contents are whatever the pooled buffer held; kernels that overwrite
    /// every element start from this.
    /// A tensor whose contents are whatever its pooled buffer held, or NaN where the device
    /// poisons new tensors (`Gpu::set_poison_uninit`, the tests do): a kernel that leaves an
    /// output unwritten then shows as NaN instead of a plausible stale value or zero.
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let storage = gpu.alloc(4 * n as u64, &format!("a tensor of shape {shape:?}"))?;
        let t = Tensor {
            gpu: gpu.clone(),
            storage: Arc::new(storage),
            offset: 0,
            shape: shape.to_vec(),
        };
        if gpu.poisons_uninit() {
            t.fill(f32::NAN);
        }
        Ok(t)
    }

    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        let t = Tensor::uninit(gpu, shape)?;
        gpu.clear(t.buffer(), t.offset, t.bytes());
        Ok(t)
    }

    pub fn from_slice(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Shape(format!(
                "{} values do not fill shape {shape:?}",
                data.len()
            )));
        }
        let t = Tensor::uninit(gpu, shape)?;
        gpu.write(t.buffer(), t.offset, bytemuck::cast_slice(data));
        Ok(t)
    }

    /// A tensor of one value, written by a kernel in recording order (no upload, no submit).
    pub fn full(gpu: &Gpu, value: f32, shape: &[usize]) -> Result<Tensor> {
        let t = Tensor::uninit(gpu, shape)?;
        t.fill(value);
        Ok(t)
    }

    /// Sets every element to `value`, on the device.
    fn fill(&self, value: f32) {
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        struct Params {
            n: u32,
            alpha: f32,
            _pad: [u32; 2],
        }
        let n = self.numel();
        let p = Params {
            n: n as u32,
            alpha: value,
            _pad: [0; 2],
        };
        self.gpu.dispatch(
            &crate::gpu::KernelSpec::new("elementwise", "fill").with("V", 1),
            bytemuck::bytes_of(&p),
            &[(3, self.bind())],
            self.gpu.grid(n.div_ceil(256) as u64),
        );
    }

    /// Overwrites the contents in place (same element count).
    pub fn write(&self, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::Shape(format!(
                "writing {} values into {:?}",
                data.len(),
                self.shape
            )));
        }
        self.gpu
            .write(self.buffer(), self.offset, bytemuck::cast_slice(data));
        Ok(())
    }

    /// Waits for every recorded command, then copies the data to the host.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let bytes = self.gpu.read(self.buffer(), self.offset, self.bytes())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Several tensors to the host with one wait (they may live on different buffers).
    pub fn to_vec_many(tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        let Some(first) = tensors.first() else {
            return Ok(Vec::new());
        };
        let ranges: Vec<_> = tensors
            .iter()
            .map(|t| (t.buffer(), t.offset, t.bytes()))
            .collect();
        Ok(first
            .gpu
            .read_many(&ranges)?
            .into_iter()
            .map(|b| bytemuck::pod_collect_to_vec(&b))
            .collect())
    }

    /// Same data, new shape, no copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != self.numel() {
            return Err(Error::Shape(format!(
                "cannot reshape {:?} to {shape:?}",
                self.shape
            )));
        }
        Ok(Tensor {
            gpu: self.gpu.clone(),
            storage: self.storage.clone(),
            offset: self.offset,
            shape: shape.to_vec(),
        })
    }

    /// A new buffer with the same contents.
    pub fn deep_clone(&self) -> Result<Tensor> {
        let t = Tensor::uninit(&self.gpu, &self.shape)?;
        self.gpu
            .copy_range(self.buffer(), self.offset, t.buffer(), 0, self.bytes());
        Ok(t)
    }

    /// Overwrites this tensor's contents with `src`'s (same element count), in recording order.
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        if src.numel() != self.numel() {
            return Err(Error::Shape(format!(
                "copy of {:?} into {:?}",
                src.shape, self.shape
            )));
        }
        self.gpu.copy_range(
            src.buffer(),
            src.offset,
            self.buffer(),
            self.offset,
            self.bytes(),
        );
        Ok(())
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dim(&self, i: usize) -> usize {
        self.shape[i]
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn bytes(&self) -> u64 {
        4 * self.numel() as u64
    }
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }
    pub fn bind(&self) -> Bind<'_> {
        Bind {
            buffer: self.buffer(),
            offset: self.offset,
            bytes: self.bytes(),
        }
    }
    /// Allocates one buffer holding tensors of these shapes back to back, each starting at the
    /// adapter's storage offset alignment (the gaps are zeroed): returns the whole buffer as a
    /// flat tensor (gaps included) and a view per shape. One kernel can then update every view
    /// at once, as Adam does over all parameters.
    pub fn arena(gpu: &Gpu, shapes: &[Vec<usize>]) -> Result<(Tensor, Vec<Tensor>)> {
        let align = (gpu.limits().min_storage_buffer_offset_alignment as usize / 4).max(1);
        let mut starts = Vec::with_capacity(shapes.len());
        let mut total = 0usize;
        for s in shapes {
            starts.push(total);
            total += s.iter().product::<usize>().next_multiple_of(align);
        }
        let whole = Tensor::zeros(gpu, &[total.max(1)])?;
        let views = shapes
            .iter()
            .zip(starts)
            .map(|(s, start)| Tensor {
                gpu: gpu.clone(),
                storage: whole.storage.clone(),
                offset: 4 * start as u64,
                shape: s.clone(),
            })
            .collect();
        Ok((whole, views))
    }

    /// True when both tensors are views of one buffer.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
}
