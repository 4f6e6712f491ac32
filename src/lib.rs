//! dcgan-wgpu: a DCGAN trainer for skin-lesion images on a hand-written wgpu compute engine.
//!
//! Layers, each talking only to the one below: `gpu` (device, pool, pipelines, recorder),
//! WGSL kernels in `shaders/`, `tensor` + `autodiff`, `ops` (each op's forward, backward and
//! CPU reference together), `optim`.

pub mod autodiff;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod eval;
pub mod gpu;
pub mod model;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod quality;
pub mod run;
pub mod tensor;
pub mod train;
pub mod viz;

pub use autodiff::{Param, Tape, Var};
pub use error::{Error, Result};
pub use gpu::{AdapterRequest, Gpu};
pub use tensor::Tensor;
