//! ONNX Runtime sessions: loading the library, inspecting models, running them.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use ort::{
    environment::Environment,
    session::{Session, SessionInputValue, builder::GraphOptimizationLevel},
    value::{DynMapValueType, DynValue, Tensor, TensorElementType, ValueType},
};
use veritas_primitives::{ModelId, Schema, TensorData, TensorSpec, Value, Values};

use crate::{RuntimeError, RuntimeResult};

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from the shared library at `path`. Once per process; later calls are no-ops.
pub fn init_onnxruntime(path: &Path) -> RuntimeResult<()> {
    // OK because a poisoned lock only means another thread panicked mid-init; the OnceLock decides.
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if ENVIRONMENT.get().is_some() {
        return Ok(());
    }
    let fail = |reason: String| RuntimeError::Library { path: path.display().to_string(), reason };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let environment = ort::init_from(path)
        .map_err(|err| fail(err.to_string()))?
        .with_name("veritas")
        .build()
        .map_err(|err| fail(err.to_string()))?;
    let _ = ENVIRONMENT.set(environment);
    Ok(())
}

fn environment() -> RuntimeResult<&'static Environment> {
    ENVIRONMENT.get().ok_or_else(|| RuntimeError::Library {
        path: "(not set)".into(),
        reason: "ONNX Runtime was not initialised; call init_onnxruntime first".into(),
    })
}

fn new_session(bytes: &[u8], threads: Option<usize>) -> RuntimeResult<Session> {
    let invalid = |err: ort::Error| RuntimeError::InvalidModel(err.to_string());
    let mut builder = Session::builder(environment()?)
        .map_err(invalid)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|err| RuntimeError::InvalidModel(err.to_string()))?;
    if let Some(threads) = threads {
        builder = builder.with_intra_threads(threads).map_err(|err| RuntimeError::InvalidModel(err.to_string()))?;
    }
    builder.commit_from_memory(bytes).map_err(invalid)
}

fn element_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "float32".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::Int8 => "int8".into(),
        TensorElementType::Uint8 => "uint8".into(),
        TensorElementType::Bool => "bool".into(),
        TensorElementType::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn spec(name: &str, ty: &ValueType) -> TensorSpec {
    let (dtype, shape) = match ty {
        ValueType::Tensor { ty, shape, .. } => {
            (element_name(*ty), shape.iter().map(|&d| u64::try_from(d).ok()).collect())
        }
        ValueType::Sequence(inner) => match inner.as_ref() {
            ValueType::Map { key, value } => {
                (format!("seq(map({},{}))", element_name(*key), element_name(*value)), vec![])
            }
            other => (format!("seq({other})"), vec![]),
        },
        other => (other.to_string(), vec![]),
    };
    TensorSpec { name: name.to_owned(), dtype, shape }
}

fn schema_of(session: &Session) -> Schema {
    Schema {
        inputs: session.inputs().iter().map(|o| spec(o.name(), o.dtype())).collect(),
        outputs: session.outputs().iter().map(|o| spec(o.name(), o.dtype())).collect(),
    }
}

/// What a model file declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Inputs and outputs.
    pub schema: Schema,
    /// Producer, graph name and the like.
    pub metadata: BTreeMap<String, String>,
}

/// Loads a model to read its interface, refusing anything ONNX Runtime cannot load.
pub fn inspect_onnx(bytes: &[u8]) -> RuntimeResult<Inspection> {
    let session = new_session(bytes, Some(1))?;
    let mut metadata = BTreeMap::new();
    if let Ok(meta) = session.metadata() {
        for (key, value) in [("producer", meta.producer()), ("graph", meta.name()), ("domain", meta.domain())] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                metadata.insert(key.to_owned(), value);
            }
        }
    }
    Ok(Inspection { schema: schema_of(&session), metadata })
}

/// A cached session, with when it was last used.
struct Cached {
    session: Arc<Mutex<Session>>,
    used: std::time::Instant,
}

/// Cached ONNX Runtime sessions by model id, at most `capacity` of them: past it, the least
/// recently used is dropped (a run under way keeps its session until it ends).
pub struct OnnxRuntime {
    sessions: Mutex<HashMap<ModelId, Cached>>,
    threads: Option<usize>,
    capacity: usize,
}

impl OnnxRuntime {
    /// A runtime whose sessions use `threads` intra-op threads (ONNX Runtime's default if
    /// `None`), keeping up to 32 sessions.
    pub fn new(threads: Option<usize>) -> OnnxRuntime {
        OnnxRuntime::with_capacity(threads, 32)
    }

    /// [`OnnxRuntime::new`] keeping up to `capacity` sessions (at least one).
    pub fn with_capacity(threads: Option<usize>, capacity: usize) -> OnnxRuntime {
        OnnxRuntime { sessions: Mutex::new(HashMap::new()), threads, capacity: capacity.max(1) }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<ModelId, Cached>> {
        // OK because the map stays consistent even if a holder panicked.
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a session for this model is cached.
    pub fn is_loaded(&self, id: &ModelId) -> bool {
        self.sessions().contains_key(id)
    }

    /// How many sessions are cached.
    pub fn loaded(&self) -> usize {
        self.sessions().len()
    }

    /// Creates and caches a session from the model's bytes (already checked by the hub),
    /// dropping the least recently used past the capacity.
    pub fn load(&self, id: &ModelId, bytes: &[u8]) -> RuntimeResult<()> {
        let session = new_session(bytes, self.threads)?;
        let mut sessions = self.sessions();
        while sessions.len() >= self.capacity && !sessions.contains_key(id) {
            let Some(oldest) = sessions.iter().min_by_key(|(_, cached)| cached.used).map(|(id, _)| *id) else { break };
            sessions.remove(&oldest);
            tracing::info!(model = %oldest, "session dropped (least recently used)");
        }
        sessions.insert(*id, Cached { session: Arc::new(Mutex::new(session)), used: std::time::Instant::now() });
        Ok(())
    }

    /// Runs a loaded model on inputs already checked by [`crate::parse_inputs`].
    pub fn run(&self, id: &ModelId, inputs: &Values) -> RuntimeResult<Values> {
        let session = self
            .sessions()
            .get_mut(id)
            .map(|cached| {
                cached.used = std::time::Instant::now();
                cached.session.clone()
            })
            .ok_or(RuntimeError::NotLoaded(*id))?;
        let mut feed: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, value) in inputs {
            feed.push((name.clone(), to_ort(name, value)?));
        }
        let mut session = session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let output_names: Vec<String> = session.outputs().iter().map(|o| o.name().to_owned()).collect();
        let outputs = session.run(feed).map_err(|err| RuntimeError::Inference(err.to_string()))?;
        let mut values = Values::new();
        for name in output_names {
            let value = outputs
                .get(&name)
                .ok_or_else(|| RuntimeError::UnsupportedOutput { name: name.clone(), reason: "missing".into() })?;
            values.insert(name.clone(), from_ort(&name, value)?);
        }
        Ok(values)
    }
}

fn to_ort(name: &str, value: &Value) -> RuntimeResult<SessionInputValue<'static>> {
    let Value::Tensor(tensor) = value else {
        return Err(RuntimeError::Input(format!("tensor {name:?}: maps cannot be fed as inputs")));
    };
    let shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
    let fail = |err: ort::Error| RuntimeError::Input(format!("tensor {name:?}: {err}"));
    Ok(match &tensor.data {
        TensorData::Float32(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Float64(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Int64(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Int32(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Int8(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Uint8(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::Bool(v) => Tensor::from_array((shape, v.clone())).map_err(fail)?.into(),
        TensorData::String(v) => Tensor::from_string_array((shape, v.as_slice())).map_err(fail)?.into(),
    })
}

fn from_ort(name: &str, value: &DynValue) -> RuntimeResult<Value> {
    let fail = |err: ort::Error| RuntimeError::UnsupportedOutput { name: name.to_owned(), reason: err.to_string() };
    match value.dtype() {
        ValueType::Tensor { ty, .. } => {
            macro_rules! dense {
                ($t:ty, $variant:ident) => {{
                    let (shape, data) = value.try_extract_tensor::<$t>().map_err(fail)?;
                    (shape.iter().map(|&d| d as u64).collect::<Vec<_>>(), TensorData::$variant(data.to_vec()))
                }};
            }
            let (shape, data) = match ty {
                TensorElementType::Float32 => dense!(f32, Float32),
                TensorElementType::Float64 => dense!(f64, Float64),
                TensorElementType::Int64 => dense!(i64, Int64),
                TensorElementType::Int32 => dense!(i32, Int32),
                TensorElementType::Int8 => dense!(i8, Int8),
                TensorElementType::Uint8 => dense!(u8, Uint8),
                TensorElementType::Bool => dense!(bool, Bool),
                TensorElementType::String => {
                    let (shape, data) = value.try_extract_strings().map_err(fail)?;
                    (shape.iter().map(|&d| d as u64).collect(), TensorData::String(data))
                }
                other => {
                    return Err(RuntimeError::UnsupportedOutput {
                        name: name.to_owned(),
                        reason: format!("element type {other:?}"),
                    });
                }
            };
            let tensor = veritas_primitives::Tensor::new(name, shape, data)
                .map_err(|err| RuntimeError::UnsupportedOutput { name: name.to_owned(), reason: err.to_string() })?;
            Ok(Value::Tensor(tensor))
        }
        ValueType::Sequence(inner) => match inner.as_ref() {
            ValueType::Map { key: TensorElementType::Int64, value: TensorElementType::Float32 } => {
                Ok(Value::Int64Maps(sequence_of_maps(value).map_err(fail)?))
            }
            ValueType::Map { key: TensorElementType::String, value: TensorElementType::Float32 } => {
                Ok(Value::StringMaps(sequence_of_maps(value).map_err(fail)?))
            }
            other => {
                Err(RuntimeError::UnsupportedOutput { name: name.to_owned(), reason: format!("sequence of {other}") })
            }
        },
        other => Err(RuntimeError::UnsupportedOutput { name: name.to_owned(), reason: format!("value type {other}") }),
    }
}

/// A sequence of maps from `K` to `f32`, as ONNX-ML's ZipMap produces.
fn sequence_of_maps<K>(value: &DynValue) -> ort::Result<Vec<BTreeMap<K, f32>>>
where
    K: ort::value::IntoTensorElementType + Clone + std::hash::Hash + Ord + std::fmt::Debug,
{
    value
        .try_extract_sequence::<DynMapValueType>()?
        .iter()
        .map(|map| map.try_extract_key_values::<K, f32>().map(|pairs| pairs.into_iter().collect()))
        .collect()
}
