//! The engine's error type: what went wrong, in one line a user can act on.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// No adapter matched; `tried` says which backends and filters were asked for.
    NoAdapter { tried: String },
    /// The adapter refused to give us a device.
    Device(String),
    /// A tensor would exceed what one storage binding of this adapter may address.
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    /// Reading results back from the GPU failed or timed out.
    Readback(String),
    /// Shapes given to an op do not fit together.
    Shape(String),
    /// The device (or the `DCGAN_MAX_MEMORY` budget) has no room for an allocation.
    OutOfMemory { what: String, bytes: u64 },
    /// The device was lost (driver reset, GPU removed) or reported an error it can't go on from.
    DeviceLost(String),
    /// The device reported an error outside any operation that could return it.
    Gpu(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoAdapter { tried } => write!(
                f,
                "no GPU adapter found (tried {tried}); install a GPU driver, or a software Vulkan \
                 driver with `apt-get install mesa-vulkan-drivers` (Debian/Ubuntu), or choose \
                 another backend with --backend / DCGAN_BACKEND (vulkan, metal, dx12, gl)"
            ),
            Error::Device(m) => write!(f, "could not open the GPU device: {m}"),
            Error::TooLarge { what, bytes, limit } => write!(
                f,
                "{what} needs {bytes} bytes but this adapter binds at most {limit} bytes per \
                 buffer; use a smaller batch"
            ),
            Error::Readback(m) => write!(f, "reading from the GPU failed: {m}"),
            Error::Shape(m) => write!(f, "shape mismatch: {m}"),
            Error::OutOfMemory { what, bytes } => write!(
                f,
                "out of GPU memory allocating {:.1} MiB for {what}; use a smaller --batch-size",
                *bytes as f64 / (1 << 20) as f64
            ),
            Error::DeviceLost(m) => write!(f, "the GPU device was lost: {m}"),
            Error::Gpu(m) => write!(f, "GPU error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
