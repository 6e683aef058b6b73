// Mapping between torch and mics: dtypes, reduce ops (PREMUL_SUM included), and the argument
// checks every collective runs on the calling thread before anything is queued, so a bad call
// raises at once and no rank enters a collective the others will never join.
#pragma once

#include <ATen/ATen.h>
#include <mics/mics.h>

#include <optional>
#include <string>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <vector>

namespace mics_torch {

// MICS_* type of a tensor's dtype; raises (naming method and dtype) for dtypes mics lacks.
mics_datatype_t to_mics_type(const at::Tensor& tensor, const char* method);

// A torch ReduceOp as mics sees it: the mics op plus, for PREMUL_SUM, the factor each rank
// multiplies its input by before a SUM.
struct ReduceSpec {
  mics_redop_t op = MICS_SUM;
  std::optional<double> premul_factor;
};
// Raises for BAND/BOR/BXOR and anything else mics cannot reduce exactly, naming the method;
// PREMUL_SUM is accepted for floating dtypes only (its factor is a real number).
ReduceSpec to_reduce_spec(const c10d::ReduceOp& op, at::ScalarType dtype, const char* method);

// Raises unless the tensor is a dense, contiguous CPU or CUDA tensor of a dtype mics supports.
void check_tensor(const at::Tensor& tensor, const char* method, const char* what);
// Raises unless every tensor has the same dtype and device as the first (named in messages).
void check_same_kind(const std::vector<at::Tensor>& tensors, const at::Tensor& reference,
                     const char* method, const char* what);
// The device of every tensor of a call (CPU when there are none); raises on mixed devices.
c10::Device common_device(const std::vector<at::Tensor>& tensors, const char* method);
// Raises unless list holds exactly one tensor (mics takes one tensor per rank per call).
void check_single(const std::vector<at::Tensor>& tensors, const char* method, const char* what);

// Input scaled by the PREMUL_SUM factor (a new tensor), or the input itself.
at::Tensor apply_premul(const at::Tensor& input, const ReduceSpec& spec);

std::string shape_string(const at::Tensor& tensor);

}  // namespace mics_torch
