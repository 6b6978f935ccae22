//! The index arithmetic of convolutions and pools, shared by the integer executor and
//! `veritas-quantize`'s float one.

use serde::{Deserialize, Serialize};

use crate::{QuantError, Result, quantized::MAX_TENSOR_ELEMENTS};

/// A 2-D convolution over one `[channels, height, width]` sample (group 1, dilation 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub in_height: usize,
    /// Input width.
    pub in_width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Strides `[height, width]`.
    pub stride: [usize; 2],
    /// Zero padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

/// A 2-D pooling window over one `[channels, height, width]` sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2d {
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub in_height: usize,
    /// Input width.
    pub in_width: usize,
    /// Window `[height, width]`.
    pub kernel: [usize; 2],
    /// Strides `[height, width]`.
    pub stride: [usize; 2],
    /// Padding `[top, left, bottom, right]`; padded cells are not part of a window.
    pub pads: [usize; 4],
}

fn out_dim(input: usize, kernel: usize, stride: usize, pad_begin: usize, pad_end: usize) -> Result<usize> {
    // Checked: every size here may come from untrusted bytes (a verifying key's architecture).
    let padded = input.checked_add(pad_begin).and_then(|n| n.checked_add(pad_end));
    match padded {
        Some(padded)
            if kernel != 0
                && stride != 0
                && padded >= kernel
                && input <= MAX_TENSOR_ELEMENTS
                && pad_begin < kernel
                && pad_end < kernel =>
        {
            Ok((padded - kernel) / stride + 1)
        }
        _ => Err(QuantError::Invalid(format!(
            "window: input {input}, kernel {kernel}, stride {stride}, pads {pad_begin}/{pad_end}"
        ))),
    }
}

fn check_count(count: usize) -> Result<usize> {
    if count > MAX_TENSOR_ELEMENTS {
        return Err(QuantError::TooLarge { what: "tensor elements", limit: MAX_TENSOR_ELEMENTS, got: count });
    }
    Ok(count)
}

impl Conv2d {
    /// The output `[channels, height, width]`, or an error for an impossible geometry.
    pub fn out_shape(&self) -> Result<[usize; 3]> {
        let height = out_dim(self.in_height, self.kernel[0], self.stride[0], self.pads[0], self.pads[2])?;
        let width = out_dim(self.in_width, self.kernel[1], self.stride[1], self.pads[1], self.pads[3])?;
        check_count(self.in_channels.saturating_mul(self.in_height).saturating_mul(self.in_width))?;
        check_count(self.out_channels.saturating_mul(height).saturating_mul(width))?;
        check_count(self.weight_count())?;
        Ok([self.out_channels, height, width])
    }

    /// Weights: `[out_channels, in_channels, kernel height, kernel width]`.
    pub fn weight_count(&self) -> usize {
        self.out_channels.saturating_mul(self.in_channels).saturating_mul(self.kernel[0]).saturating_mul(self.kernel[1])
    }

    /// Calls `tap(out_index, in_index, weight_index)` for every product of the convolution, in
    /// output order; taps on padding are skipped.
    pub fn for_each_tap(&self, [_, out_height, out_width]: [usize; 3], mut tap: impl FnMut(usize, usize, usize)) {
        let [kh, kw] = self.kernel;
        for oc in 0..self.out_channels {
            for oy in 0..out_height {
                for ox in 0..out_width {
                    let out_index = (oc * out_height + oy) * out_width + ox;
                    for ic in 0..self.in_channels {
                        for ky in 0..kh {
                            let Some(iy) = (oy * self.stride[0] + ky).checked_sub(self.pads[0]) else { continue };
                            if iy >= self.in_height {
                                continue;
                            }
                            for kx in 0..kw {
                                let Some(ix) = (ox * self.stride[1] + kx).checked_sub(self.pads[1]) else { continue };
                                if ix >= self.in_width {
                                    continue;
                                }
                                let in_index = (ic * self.in_height + iy) * self.in_width + ix;
                                let weight_index = ((oc * self.in_channels + ic) * kh + ky) * kw + kx;
                                tap(out_index, in_index, weight_index);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Pool2d {
    /// The output `[channels, height, width]`, or an error for an impossible geometry.
    pub fn out_shape(&self) -> Result<[usize; 3]> {
        let height = out_dim(self.in_height, self.kernel[0], self.stride[0], self.pads[0], self.pads[2])?;
        let width = out_dim(self.in_width, self.kernel[1], self.stride[1], self.pads[1], self.pads[3])?;
        check_count(self.channels.saturating_mul(self.in_height).saturating_mul(self.in_width))?;
        check_count(self.channels.saturating_mul(height).saturating_mul(width))?;
        Ok([self.channels, height, width])
    }

    /// The window size, `kernel height * kernel width` (saturating: a kernel is not bounded by
    /// validation, only by a verifier's work budget).
    pub fn window(&self) -> usize {
        self.kernel[0].saturating_mul(self.kernel[1])
    }

    /// Calls `window(out_index, in_indices)` for every output, with the window's in-bounds inputs.
    pub fn for_each_window(&self, [_, out_height, out_width]: [usize; 3], mut window: impl FnMut(usize, &[usize])) {
        // At most the in-bounds part of a window, itself at most the input.
        let mut indices = Vec::with_capacity(self.window().min(self.in_height.saturating_mul(self.in_width)));
        for c in 0..self.channels {
            for oy in 0..out_height {
                for ox in 0..out_width {
                    indices.clear();
                    for ky in 0..self.kernel[0] {
                        let Some(iy) = (oy * self.stride[0] + ky).checked_sub(self.pads[0]) else { continue };
                        if iy >= self.in_height {
                            continue;
                        }
                        for kx in 0..self.kernel[1] {
                            let Some(ix) = (ox * self.stride[1] + kx).checked_sub(self.pads[1]) else { continue };
                            if ix < self.in_width {
                                indices.push((c * self.in_height + iy) * self.in_width + ix);
                            }
                        }
                    }
                    window((c * out_height + oy) * out_width + ox, &indices);
                }
            }
        }
    }
}
