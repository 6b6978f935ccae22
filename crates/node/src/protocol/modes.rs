//! Which verification mode a request runs in: the one it names, else the network's default,
//! and only a mode the network offers (`tee` needs an enclave) for a model that can serve it
//! (`zk` proves quantized models only).

use veritas_hub::{ModelFormat, ModelVersion};
use veritas_primitives::Mode;

use crate::{NodeError, NodeResult, TeeBackend};

/// What a network offers its clients: the mode of requests that name none, and the enclave
/// `tee` claims come from (none: no `tee` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The mode of requests that name none.
    pub default_mode: Mode,
    /// The enclave `tee` claims come from.
    pub tee: Option<TeeBackend>,
}

impl Offer {
    /// The mode a request runs in: the one it names, else the default; only a mode offered.
    pub fn mode(&self, requested: Option<Mode>) -> NodeResult<Mode> {
        let mode = requested.unwrap_or(self.default_mode);
        let available = if self.tee.is_some() {
            "signed, reexec, zk, tee"
        } else {
            "signed, reexec, zk (start with --tee for tee)"
        };
        let served = match mode {
            // zk: any node proves a quantized model (the model's format is checked with it).
            Mode::Signed | Mode::Reexec | Mode::Zk => true,
            Mode::Tee => self.tee.is_some(),
        };
        if !served {
            return Err(NodeError::UnsupportedMode { mode, available });
        }
        Ok(mode)
    }
}

/// `zk` mode proves quantized models only.
pub fn check_zk_format(mode: Mode, model: &ModelVersion) -> NodeResult<()> {
    if mode == Mode::Zk && model.manifest.format != ModelFormat::Quantized {
        return Err(NodeError::ModeForModel {
            mode,
            model: format!("{} ({})", model.name, model.id),
            reason: format!(
                "zk mode proves quantized models, and this one is {:?}; push a quantized version (veritas model \
                 push MODEL.onnx --zk-calibration SAMPLES.json)",
                model.manifest.format
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_runs_in_the_mode_it_names_or_the_default_and_only_in_one_offered() {
        let plain = Offer { default_mode: Mode::Signed, tee: None };
        let enclave = Offer { default_mode: Mode::Reexec, tee: Some(TeeBackend::Simulated) };
        for (offer, requested, expected) in [
            (plain, None, Some(Mode::Signed)),
            (plain, Some(Mode::Reexec), Some(Mode::Reexec)),
            (plain, Some(Mode::Zk), Some(Mode::Zk)),
            (plain, Some(Mode::Tee), None),
            (enclave, None, Some(Mode::Reexec)),
            (enclave, Some(Mode::Tee), Some(Mode::Tee)),
            (Offer { default_mode: Mode::Tee, tee: None }, None, None),
        ] {
            let got = offer.mode(requested);
            assert_eq!(got.as_ref().ok(), expected.as_ref(), "{offer:?} {requested:?}: {got:?}");
            if let Err(err) = got {
                assert!(err.to_string().contains("start with --tee"), "{err}");
            }
        }
    }
}
