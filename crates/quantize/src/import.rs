//! ONNX graph → [`FloatModel`]: operator checks, shapes, ReLU fusion, BatchNormalization and
//! constant-Add folding, Flatten/Reshape as views.

use std::collections::HashMap;

use veritas_quant::{
    QuantError,
    geometry::{Conv2d, Pool2d},
    quantized::MAX_TENSOR_ELEMENTS,
};

use crate::{
    QuantizeError, Result,
    float::{FloatLayer, FloatModel, FloatOp},
    onnx::{self, NodeProto, TensorProto},
};

/// Most nodes accepted in a graph.
pub const MAX_NODES: usize = 4096;

/// Decodes ONNX model bytes into a float network (batch 1).
pub fn import(model_bytes: &[u8]) -> Result<FloatModel> {
    let model = onnx::decode_model(model_bytes)?;
    let graph = model.graph.ok_or_else(|| invalid("model has no graph".into()))?;
    if graph.node.len() > MAX_NODES {
        return Err(QuantError::TooLarge { what: "graph nodes", limit: MAX_NODES, got: graph.node.len() }.into());
    }
    let initializers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let input = graph
        .input
        .iter()
        .find(|i| !initializers.contains_key(i.name.as_str()))
        .ok_or_else(|| invalid("graph has no input".into()))?;
    let input_shape = input_shape(input)?;
    let output_name = graph.output.first().ok_or_else(|| invalid("graph has no output".into()))?.name.clone();

    let mut uses: HashMap<&str, usize> = HashMap::new();
    for name in graph.node.iter().flat_map(|n| &n.input).chain(graph.output.iter().map(|o| &o.name)) {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    let mut importer =
        Importer { initializers, uses, values: HashMap::new(), producers: HashMap::new(), layers: vec![] };
    importer.values.insert(input.name.clone(), (0, input_shape.clone()));
    for node in &graph.node {
        importer.node(node)?;
    }
    let (output, _) = importer.value(&output_name, "graph output")?;
    if importer.layers.is_empty() {
        return Err(invalid("graph has no layers".into()));
    }
    Ok(FloatModel { input_name: input.name.clone(), input_shape, layers: importer.layers, output })
}

fn input_shape(input: &onnx::ValueInfoProto) -> Result<Vec<usize>> {
    let dims = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    let bad = || invalid(format!("input {}: need a shape [batch, ...] with known sizes", input.name));
    let (batch, rest) = dims.split_first().ok_or_else(bad)?;
    if !matches!(batch.dim_value, None | Some(1)) {
        return Err(bad());
    }
    let shape: Vec<usize> = rest
        .iter()
        .map(|d| d.dim_value.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if shape.is_empty()
        || shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).is_none_or(|n| n > MAX_TENSOR_ELEMENTS)
    {
        return Err(bad());
    }
    Ok(shape)
}

struct Importer<'a> {
    initializers: HashMap<&'a str, &'a TensorProto>,
    uses: HashMap<&'a str, usize>,
    /// ONNX value name → (tensor id, per-sample shape).
    values: HashMap<String, (usize, Vec<usize>)>,
    /// ONNX value name → the layer that wrote it directly (not through a view).
    producers: HashMap<String, usize>,
    layers: Vec<FloatLayer>,
}

/// A structurally invalid model, as the executor's `Invalid` says it (one message for both).
fn invalid(reason: String) -> QuantizeError {
    QuantError::Invalid(reason).into()
}

fn unsupported(node: &NodeProto, reason: impl Into<String>) -> QuantizeError {
    QuantizeError::Unsupported { op: node.op_type.clone(), node: node.label(), reason: reason.into() }
}

fn to_usize(values: &[i64], node: &NodeProto, what: &str) -> Result<Vec<usize>> {
    values.iter().map(|&v| usize::try_from(v).map_err(|_| unsupported(node, format!("negative {what}")))).collect()
}

fn pair(node: &NodeProto, name: &str, default: usize) -> Result<[usize; 2]> {
    match node.attr_ints(name) {
        None => Ok([default; 2]),
        Some(v) => match to_usize(v, node, name)?.as_slice() {
            &[a, b] => Ok([a, b]),
            _ => Err(unsupported(node, format!("{name} must have 2 values"))),
        },
    }
}

fn pads(node: &NodeProto) -> Result<[usize; 4]> {
    match node.attr_ints("pads") {
        None => Ok([0; 4]),
        // ONNX order: [top, left, bottom, right] for 2-D.
        Some(v) => match to_usize(v, node, "pads")?.as_slice() {
            &[t, l, b, r] => Ok([t, l, b, r]),
            _ => Err(unsupported(node, "pads must have 4 values")),
        },
    }
}

impl Importer<'_> {
    fn value(&self, name: &str, node: &str) -> Result<(usize, Vec<usize>)> {
        self.values.get(name).cloned().ok_or_else(|| invalid(format!("{node}: unknown tensor {name}")))
    }

    fn constant(&self, node: &NodeProto, index: usize) -> Result<Option<&TensorProto>> {
        match node.input.get(index).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(name) => self
                .initializers
                .get(name.as_str())
                .copied()
                .map(Some)
                .ok_or_else(|| unsupported(node, format!("input {name} must be an initializer"))),
        }
    }

    fn push(&mut self, node: &NodeProto, op: FloatOp, shape: Vec<usize>) -> Result<()> {
        let name = node.output.first().ok_or_else(|| unsupported(node, "no output"))?;
        self.layers.push(FloatLayer { op, shape: shape.clone() });
        self.values.insert(name.clone(), (self.layers.len(), shape));
        self.producers.insert(name.clone(), self.layers.len() - 1);
        Ok(())
    }

    /// The layer that wrote `name`, if nothing else reads it, so it may absorb the next node.
    fn sole_producer(&self, name: &str) -> Option<usize> {
        self.producers.get(name).copied().filter(|_| self.uses.get(name) == Some(&1))
    }

    fn alias(&mut self, node: &NodeProto, id: usize, shape: Vec<usize>) -> Result<()> {
        let name = node.output.first().ok_or_else(|| unsupported(node, "no output"))?;
        self.values.insert(name.clone(), (id, shape));
        Ok(())
    }

    fn node(&mut self, node: &NodeProto) -> Result<()> {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(unsupported(node, format!("domain {}", node.domain)));
        }
        let first = node.input.first().ok_or_else(|| unsupported(node, "no input"))?;
        match node.op_type.as_str() {
            "Gemm" | "MatMul" => self.linear(node),
            "Conv" => self.conv(node),
            "MaxPool" | "AveragePool" => self.pool(node),
            "Relu" => {
                let (id, shape) = self.value(first, &node.label())?;
                if let Some(index) = self.sole_producer(first)
                    && let FloatOp::Linear { relu, .. } | FloatOp::Conv { relu, .. } | FloatOp::Add { relu, .. } =
                        &mut self.layers[index].op
                {
                    *relu = true;
                    return self.alias(node, id, shape);
                }
                self.push(node, FloatOp::Relu { input: id }, shape)
            }
            "Add" => self.add(node),
            "BatchNormalization" => self.batch_norm(node),
            "Flatten" => {
                let (id, shape) = self.value(first, &node.label())?;
                if node.attr_i("axis", 1) != 1 {
                    return Err(unsupported(node, "only axis 1"));
                }
                self.alias(node, id, vec![shape.iter().product()])
            }
            "Reshape" => self.reshape(node),
            "Identity" | "Dropout" => {
                let (id, shape) = self.value(first, &node.label())?;
                self.alias(node, id, shape)
            }
            _ => Err(unsupported(node, "operator not supported")),
        }
    }

    fn linear(&mut self, node: &NodeProto) -> Result<()> {
        let (input, shape) = self.value(&node.input[0], &node.label())?;
        let weights = self.constant(node, 1)?.ok_or_else(|| unsupported(node, "needs a weight initializer"))?;
        let w_shape = weights.shape()?;
        let &[rows, cols] = w_shape.as_slice() else { return Err(unsupported(node, "weights must be 2-D")) };
        let gemm = node.op_type == "Gemm";
        if gemm && node.attr_i("transA", 0) != 0 {
            return Err(unsupported(node, "transA"));
        }
        let trans_b = gemm && node.attr_i("transB", 0) != 0;
        let (in_features, out_features) = if trans_b { (cols, rows) } else { (rows, cols) };
        if shape != [in_features] {
            return Err(unsupported(node, format!("input shape {shape:?}, weights expect [{in_features}]")));
        }
        let (alpha, beta) = if gemm { (node.attr_f("alpha", 1.0), node.attr_f("beta", 1.0)) } else { (1.0, 1.0) };
        let w = weights.floats()?;
        let mut out_w = vec![0.0; w.len()];
        for o in 0..out_features {
            for i in 0..in_features {
                let v = if trans_b { w[o * in_features + i] } else { w[i * out_features + o] };
                out_w[o * in_features + i] = alpha * v;
            }
        }
        let bias = match if gemm { self.constant(node, 2)? } else { None } {
            None => vec![0.0; out_features],
            Some(c) => match c.floats()?.as_slice() {
                [v] => vec![beta * v; out_features],
                v if v.len() == out_features => v.iter().map(|x| beta * x).collect(),
                _ => return Err(unsupported(node, "bias must have one value per output")),
            },
        };
        let op = FloatOp::Linear { input, in_features, out_features, weights: out_w, bias, relu: false };
        self.push(node, op, vec![out_features])
    }

    fn conv(&mut self, node: &NodeProto) -> Result<()> {
        let (input, shape) = self.value(&node.input[0], &node.label())?;
        let weights = self.constant(node, 1)?.ok_or_else(|| unsupported(node, "needs a weight initializer"))?;
        let &[out_channels, in_channels, kh, kw] = weights.shape()?.as_slice() else {
            return Err(unsupported(node, "weights must be 4-D"));
        };
        let &[channels, in_height, in_width] = shape.as_slice() else {
            return Err(unsupported(node, format!("input shape {shape:?} is not [C, H, W]")));
        };
        if channels != in_channels || node.attr_i("group", 1) != 1 {
            return Err(unsupported(node, "channels mismatch or groups"));
        }
        if pair(node, "dilations", 1)? != [1, 1]
            || node.attr("auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET")
        {
            return Err(unsupported(node, "dilations or auto_pad"));
        }
        if node.attr_ints("kernel_shape").is_some() && pair(node, "kernel_shape", 0)? != [kh, kw] {
            return Err(unsupported(node, "kernel_shape disagrees with the weights"));
        }
        let geometry = Conv2d {
            in_channels,
            in_height,
            in_width,
            out_channels,
            kernel: [kh, kw],
            stride: pair(node, "strides", 1)?,
            pads: pads(node)?,
        };
        let out = geometry.out_shape().map_err(|e| unsupported(node, e.to_string()))?;
        let bias = match self.constant(node, 2)? {
            None => vec![0.0; out_channels],
            Some(b) => b.floats()?,
        };
        if bias.len() != out_channels {
            return Err(unsupported(node, "bias must have one value per output channel"));
        }
        self.push(node, FloatOp::Conv { input, geometry, weights: weights.floats()?, bias, relu: false }, out.to_vec())
    }

    fn pool(&mut self, node: &NodeProto) -> Result<()> {
        let (input, shape) = self.value(&node.input[0], &node.label())?;
        let &[channels, in_height, in_width] = shape.as_slice() else {
            return Err(unsupported(node, format!("input shape {shape:?} is not [C, H, W]")));
        };
        if node.attr_i("ceil_mode", 0) != 0
            || pair(node, "dilations", 1)? != [1, 1]
            || node.attr_i("storage_order", 0) != 0
        {
            return Err(unsupported(node, "ceil_mode, dilations or storage_order"));
        }
        if node.attr("auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
            return Err(unsupported(node, "auto_pad"));
        }
        let geometry = Pool2d {
            channels,
            in_height,
            in_width,
            kernel: pair(node, "kernel_shape", 0)?,
            stride: pair(node, "strides", 1)?,
            pads: pads(node)?,
        };
        let out = geometry.out_shape().map_err(|e| unsupported(node, e.to_string()))?;
        let op = if node.op_type == "MaxPool" {
            FloatOp::MaxPool { input, geometry }
        } else {
            if geometry.pads != [0; 4] {
                return Err(unsupported(node, "padded average pooling"));
            }
            FloatOp::AvgPool { input, geometry }
        };
        self.push(node, op, out.to_vec())
    }

    fn add(&mut self, node: &NodeProto) -> Result<()> {
        let [a, b] = node.input.as_slice() else { return Err(unsupported(node, "needs 2 inputs")) };
        let (a, b) = if self.initializers.contains_key(a.as_str()) { (b, a) } else { (a, b) };
        if let Some(constant) = self.initializers.get(b.as_str()) {
            // x + c folds into the bias of the layer that wrote x.
            let values = constant.floats()?;
            let (id, shape) = self.value(a, &node.label())?;
            let index = self.sole_producer(a).ok_or_else(|| unsupported(node, "constant Add after a shared tensor"))?;
            match &mut self.layers[index].op {
                FloatOp::Linear { bias, relu: false, .. } | FloatOp::Conv { bias, relu: false, .. }
                    if values.len() == bias.len() =>
                {
                    bias.iter_mut().zip(&values).for_each(|(b, v)| *b += v);
                }
                _ => return Err(unsupported(node, "constant Add only folds into a Gemm/MatMul/Conv bias")),
            }
            self.alias(node, id, shape)?;
            self.producers.insert(node.output[0].clone(), index);
            return Ok(());
        }
        let (a_id, a_shape) = self.value(a, &node.label())?;
        let (b_id, b_shape) = self.value(b, &node.label())?;
        if a_shape != b_shape {
            return Err(unsupported(node, format!("broadcasting {a_shape:?} + {b_shape:?}")));
        }
        self.push(node, FloatOp::Add { a: a_id, b: b_id, relu: false }, a_shape)
    }

    fn batch_norm(&mut self, node: &NodeProto) -> Result<()> {
        let [x, ..] = node.input.as_slice() else { return Err(unsupported(node, "no input")) };
        let mut params = Vec::with_capacity(4);
        for index in 1..5 {
            params.push(self.constant(node, index)?.ok_or_else(|| unsupported(node, "needs 4 parameters"))?.floats()?);
        }
        let epsilon = node.attr_f("epsilon", 1e-5);
        let (id, shape) = self.value(x, &node.label())?;
        let index = self.sole_producer(x).ok_or_else(|| unsupported(node, "only folds into a preceding Conv/Gemm"))?;
        let (weights, bias) = match &mut self.layers[index].op {
            FloatOp::Linear { weights, bias, relu: false, .. } | FloatOp::Conv { weights, bias, relu: false, .. } => {
                (weights, bias)
            }
            _ => return Err(unsupported(node, "only folds into a preceding Conv/Gemm")),
        };
        let channels = bias.len();
        if params.iter().any(|p| p.len() != channels) {
            return Err(unsupported(node, "parameters must have one value per channel"));
        }
        let per_channel = weights.len() / channels;
        for c in 0..channels {
            let (gamma, beta, mean, var) = (params[0][c], params[1][c], params[2][c], params[3][c]);
            let factor = gamma / (var + epsilon).sqrt();
            if !factor.is_finite() {
                return Err(unsupported(node, "non-finite scale"));
            }
            weights[c * per_channel..(c + 1) * per_channel].iter_mut().for_each(|w| *w *= factor);
            bias[c] = (bias[c] - mean) * factor + beta;
        }
        // `alias` checked there is an output.
        self.alias(node, id, shape)?;
        self.producers.insert(node.output[0].clone(), index);
        Ok(())
    }

    fn reshape(&mut self, node: &NodeProto) -> Result<()> {
        let (id, shape) = self.value(&node.input[0], &node.label())?;
        let target = self.constant(node, 1)?.ok_or_else(|| unsupported(node, "needs a constant shape"))?.int64s()?;
        let count: usize = shape.iter().product();
        let (batch, rest) = target.split_first().ok_or_else(|| unsupported(node, "empty shape"))?;
        if !(-1..=1).contains(batch) || rest.is_empty() {
            return Err(unsupported(node, "the first dimension must stay the batch"));
        }
        let mut out = Vec::with_capacity(rest.len());
        let mut infer = None;
        for (axis, &dim) in rest.iter().enumerate() {
            match dim {
                -1 if infer.is_none() => {
                    infer = Some(axis);
                    out.push(1);
                }
                0 => out.push(*shape.get(axis).ok_or_else(|| unsupported(node, "0 beyond the input's rank"))?),
                d => out.push(usize::try_from(d).map_err(|_| unsupported(node, "bad dimension"))?),
            }
        }
        let known = out.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if let (Some(axis), Some(known)) = (infer, known) {
            out[axis] = count.checked_div(known).unwrap_or(0);
        }
        if out.contains(&0) || out.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) != Some(count) {
            return Err(unsupported(node, format!("{shape:?} does not reshape to {out:?}")));
        }
        self.alias(node, id, out)
    }
}
