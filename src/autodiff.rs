//! Reverse-mode autodiff: a tape of recorded ops, and `backward` from a scalar.
//!
//! Each op lives in `src/ops/` with its forward beside the `Function` that is its backward. A
//! `Tape` lasts one training step: ops record themselves when an input needs a gradient, the
//! saved tensors are freed with the tape, and gradients of intermediate values are freed as
//! soon as the nodes that consume them have run.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::Tensor;

pub type VarId = usize;

/// The backward of one recorded op.
pub trait Function {
    fn name(&self) -> &'static str;
    /// Given the gradient of the op's output, the gradients of its inputs; `needs[i]` is false
    /// for inputs that lead to nothing being differentiated, which may then get `None`.
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

/// A value on the tape.
#[derive(Clone, Debug)]
pub struct Var {
    pub id: VarId,
    pub value: Tensor,
    pub requires_grad: bool,
}

impl Var {
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }
}

/// A trainable tensor that outlives tapes; each tape maps it to one leaf, however often it is used.
pub struct Param {
    uid: u64,
    pub name: String,
    pub value: Tensor,
}

impl Param {
    pub fn new(name: impl Into<String>, value: Tensor) -> Param {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Param {
            uid: NEXT.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            value,
        }
    }
}

struct Node {
    inputs: Vec<VarId>,
    output: VarId,
    f: Box<dyn Function>,
}

pub struct Tape {
    requires: RefCell<Vec<bool>>,
    nodes: RefCell<Vec<Node>>,
    params: RefCell<HashMap<u64, Var>>,
    enabled: Cell<bool>,
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}

impl Tape {
    pub fn new() -> Tape {
        Tape {
            requires: RefCell::default(),
            nodes: RefCell::default(),
            params: RefCell::default(),
            enabled: Cell::new(true),
        }
    }

    /// A tape that records nothing: for sampling and evaluation.
    pub fn no_grad() -> Tape {
        let t = Tape::new();
        t.enabled.set(false);
        t
    }

    pub fn is_recording(&self) -> bool {
        self.enabled.get()
    }

    fn new_var(&self, value: Tensor, requires_grad: bool) -> Var {
        let mut r = self.requires.borrow_mut();
        r.push(requires_grad);
        Var {
            id: r.len() - 1,
            value,
            requires_grad,
        }
    }

    /// A leaf: data, or a tensor whose gradient is wanted.
    pub fn leaf(&self, value: Tensor, requires_grad: bool) -> Var {
        self.new_var(value, requires_grad && self.is_recording())
    }

    /// The leaf for a parameter, the same one every time it is used on this tape.
    pub fn param(&self, p: &Param) -> Var {
        if let Some(v) = self.params.borrow().get(&p.uid) {
            return v.clone();
        }
        let v = self.leaf(p.value.clone(), true);
        self.params.borrow_mut().insert(p.uid, v.clone());
        v
    }

    /// Records an op's output. Nothing is kept when no input needs a gradient.
    pub fn record(&self, inputs: &[&Var], output: Tensor, f: impl Function + 'static) -> Var {
        let requires = self.is_recording() && inputs.iter().any(|v| v.requires_grad);
        let out = self.new_var(output, requires);
        if requires {
            self.nodes.borrow_mut().push(Node {
                inputs: inputs.iter().map(|v| v.id).collect(),
                output: out.id,
                f: Box::new(f),
            });
        }
        out
    }

    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gradients of the scalar `loss` with respect to `wrt`. Only the paths from `wrt` to the
    /// loss are differentiated, so the tape can be walked again for another loss (both GAN
    /// losses come from one forward pass).
    pub fn backward(&self, loss: &Var, wrt: &[&Var]) -> Result<Grads> {
        if loss.value.numel() != 1 {
            return Err(Error::Shape(format!(
                "backward needs a scalar loss, got {:?}",
                loss.shape()
            )));
        }
        let one = Tensor::full(loss.value.gpu(), 1.0, loss.value.shape())?;
        self.backward_with(loss, one, wrt)
    }

    /// Like `backward`, seeded with a given gradient of `out` (the gradient of sum(out * seed)).
    pub fn backward_with(&self, out: &Var, seed: Tensor, wrt: &[&Var]) -> Result<Grads> {
        if seed.shape() != out.shape() {
            return Err(Error::Shape(format!(
                "seed gradient {:?} for output {:?}",
                seed.shape(),
                out.shape()
            )));
        }
        let loss = out;
        let nodes = self.nodes.borrow();
        let nvars = self.requires.borrow().len();
        // leads[v]: v depends on something in `wrt`, so its gradient is needed.
        let mut leads = vec![false; nvars];
        for v in wrt {
            leads[v.id] = true;
        }
        for node in nodes.iter() {
            if node.inputs.iter().any(|&i| leads[i]) {
                leads[node.output] = true;
            }
        }
        let mut want = vec![false; nvars];
        for v in wrt {
            want[v.id] = true;
        }
        let mut grads: HashMap<VarId, Tensor> = HashMap::new();
        let mut result = HashMap::new();
        if leads[loss.id] {
            grads.insert(loss.id, seed);
        }
        for node in nodes.iter().rev() {
            let Some(g) = grads.remove(&node.output) else {
                continue;
            };
            if want[node.output] {
                result.insert(node.output, g.clone());
            }
            let needs: Vec<bool> = node.inputs.iter().map(|&i| leads[i]).collect();
            if !needs.iter().any(|&n| n) {
                continue;
            }
            let gin = node.f.backward(&g, &needs)?;
            drop(g);
            for ((&i, gi), need) in node.inputs.iter().zip(gin).zip(needs) {
                let Some(gi) = gi.filter(|_| need) else {
                    continue;
                };
                let merged = match grads.remove(&i) {
                    Some(prev) => ops::elementwise::add(&prev, &gi)?,
                    None => gi,
                };
                grads.insert(i, merged);
            }
        }
        for v in wrt {
            if let Some(g) = grads.remove(&v.id) {
                result.insert(v.id, g);
            }
        }
        Ok(Grads(result))
    }
}

/// Gradients by variable.
pub struct Grads(HashMap<VarId, Tensor>);

impl Grads {
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        self.0.get(&v.id)
    }
    pub fn take(&mut self, v: &Var) -> Option<Tensor> {
        self.0.remove(&v.id)
    }
}
