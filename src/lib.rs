//! dcgan-wgpu: a DCGAN trainer for skin-lesion images on a hand-written wgpu compute engine.
//!
//! Layers, each talking only to the one below: `gpu` (device, pool, pipelines, recorder),
//! WGSL kernels in `shaders/`, `tensor` + `autodiff`, `ops` (each op's forward, backward and
//! CPU reference together), `optim`.

pub mod autodiff;
pub mod error;
pub mod gpu;
pub mod ops;
pub mod optim;
pub mod tensor;

pub use autodiff::{Param, Tape, Var};
pub use error::{Error, Result};
pub use gpu::{AdapterRequest, Gpu};
pub use tensor::Tensor;
