#include "ops.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace mics_torch {

mics_datatype_t to_mics_type(const at::Tensor& tensor, const char* method) {
  switch (tensor.scalar_type()) {
    case at::kFloat:
      return MICS_FLOAT32;
    case at::kDouble:
      return MICS_FLOAT64;
    case at::kHalf:
      return MICS_FLOAT16;
    case at::kBFloat16:
      return MICS_BFLOAT16;
    case at::kChar:
      return MICS_INT8;
    case at::kByte:
      return MICS_UINT8;
    case at::kInt:
      return MICS_INT32;
    case at::kLong:
      return MICS_INT64;
    default:
      TORCH_CHECK(false, "mics backend: ", method, " does not support dtype ",
                  c10::toString(tensor.scalar_type()),
                  " (supported: float32, float64, float16, bfloat16, int8, uint8, int32, int64)");
  }
}

ReduceSpec to_reduce_spec(const c10d::ReduceOp& op, at::ScalarType dtype, const char* method) {
  ReduceSpec spec;
  switch (op.op_) {
    case c10d::ReduceOp::SUM:
      spec.op = MICS_SUM;
      return spec;
    case c10d::ReduceOp::AVG:
      spec.op = MICS_AVG;
      return spec;
    case c10d::ReduceOp::PRODUCT:
      spec.op = MICS_PROD;
      return spec;
    case c10d::ReduceOp::MIN:
      spec.op = MICS_MIN;
      return spec;
    case c10d::ReduceOp::MAX:
      spec.op = MICS_MAX;
      return spec;
    case c10d::ReduceOp::PREMUL_SUM: {
      TORCH_CHECK(at::isFloatingType(dtype), "mics backend: ", method,
                  " supports PREMUL_SUM on floating dtypes only, not ", c10::toString(dtype));
      // torch builds every PREMUL_SUM op with this supplement (makePreMulSum); a static cast
      // avoids relying on RTTI of a header-only type across shared objects.
      auto* supplement = static_cast<c10d::NCCLPreMulSumSupplement*>(op.supplement_.get());
      TORCH_CHECK(supplement != nullptr, "mics backend: ", method,
                  ": PREMUL_SUM without its factor (build it with "
                  "torch.distributed._make_nccl_premul_sum)");
      spec.op = MICS_SUM;
      if (supplement->tensor_factor.defined()) {
        TORCH_CHECK(supplement->tensor_factor.numel() == 1, "mics backend: ", method,
                    ": the PREMUL_SUM factor tensor must have one element");
        // item() copies a device scalar to the host: the factor must be known before the
        // collective runs on the progress thread.
        spec.premul_factor = supplement->tensor_factor.item<double>();
      } else {
        spec.premul_factor = supplement->double_factor;
      }
      return spec;
    }
    default:
      TORCH_CHECK(false, "mics backend: ", method, " does not support ReduceOp ",
                  op.op_ == c10d::ReduceOp::BAND   ? "BAND"
                  : op.op_ == c10d::ReduceOp::BOR  ? "BOR"
                  : op.op_ == c10d::ReduceOp::BXOR ? "BXOR"
                                                   : "(unknown)",
                  " (BAND/BOR/BXOR are not reductions mics implements; use SUM, AVG, PRODUCT, "
                  "MIN, MAX or PREMUL_SUM)");
  }
}

void check_tensor(const at::Tensor& tensor, const char* method, const char* what) {
  TORCH_CHECK(tensor.defined(), "mics backend: ", method, ": ", what, " is an undefined tensor");
  TORCH_CHECK(tensor.layout() == at::kStrided, "mics backend: ", method, ": ", what,
              " must be a dense (strided) tensor, not ", tensor.layout());
  TORCH_CHECK(tensor.device().is_cpu() || tensor.device().is_cuda(), "mics backend: ", method, ": ",
              what, " is on device ", tensor.device(), "; only CPU and CUDA tensors are ",
              "supported");
  TORCH_CHECK(tensor.is_contiguous(), "mics backend: ", method, ": ", what,
              " must be contiguous (shape ", shape_string(tensor), ", strides ", tensor.strides(),
              "); call .contiguous() first");
  to_mics_type(tensor, method);
}

void check_same_kind(const std::vector<at::Tensor>& tensors, const at::Tensor& reference,
                     const char* method, const char* what) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_tensor(tensors[i], method, what);
    TORCH_CHECK(tensors[i].scalar_type() == reference.scalar_type(), "mics backend: ", method, ": ",
                what, "[", i, "] has dtype ", c10::toString(tensors[i].scalar_type()),
                " but expected ", c10::toString(reference.scalar_type()));
    TORCH_CHECK(tensors[i].device() == reference.device(), "mics backend: ", method, ": ", what,
                "[", i, "] is on ", tensors[i].device(), " but expected ", reference.device(),
                " (mixed devices)");
  }
}

c10::Device common_device(const std::vector<at::Tensor>& tensors, const char* method) {
  if (tensors.empty()) return c10::Device(c10::kCPU);
  const c10::Device device = tensors[0].device();
  for (size_t i = 1; i < tensors.size(); ++i) {
    TORCH_CHECK(tensors[i].device() == device, "mics backend: ", method, ": its tensors are on ",
                device, " and ", tensors[i].device(), "; one call takes tensors of one device ",
                "(all CPU, or all on one CUDA device)");
  }
  return device;
}

void check_single(const std::vector<at::Tensor>& tensors, const char* method, const char* what) {
  TORCH_CHECK(tensors.size() == 1, "mics backend: ", method, " takes exactly one ", what,
              " tensor per rank, got ", tensors.size());
}

at::Tensor apply_premul(const at::Tensor& input, const ReduceSpec& spec) {
  if (!spec.premul_factor) return input;
  return input.mul(*spec.premul_factor);
}

std::string shape_string(const at::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

}  // namespace mics_torch
