// The Python extension module _mics_torch: exposes MicsBackend as a subclass of
// torch.distributed's Backend so that the factory in mics/torch.py can hand it to
// ProcessGroup._register_backend. torch.distributed must be imported first (it registers the
// base class with pybind11); this module imports it itself.
#include <torch/csrc/utils/pybind.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend.h"

namespace py = pybind11;

namespace {

std::chrono::milliseconds seconds_to_ms(double seconds) {
  TORCH_CHECK(std::isfinite(seconds) && seconds > 0, "mics backend: timeout must be a positive ",
              "number of seconds, got ", seconds);
  const double ms = std::ceil(seconds * 1000.0);
  const double limit = static_cast<double>(std::numeric_limits<int>::max());
  return std::chrono::milliseconds(static_cast<int64_t>(ms < limit ? ms : limit));
}

}  // namespace

PYBIND11_MODULE(_mics_torch, m) {
  m.doc() = "mics c10d backend (see mics.torch, which registers it as backend \"mics\")";
  py::module_::import("torch.distributed");

  py::class_<mics_torch::MicsBackend, c10d::Backend, c10::intrusive_ptr<mics_torch::MicsBackend>>(
      m, "MicsBackend",
      "c10d backend over a mics communicator; collectives on CPU tensors run on a progress "
      "thread in issue order, those on CUDA tensors are enqueued on the current stream.")
      .def(py::init([](const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                       double timeout_seconds, const std::string& group_id,
                       const std::vector<int64_t>& global_ranks) {
             return c10::make_intrusive<mics_torch::MicsBackend>(
                 store, rank, size, seconds_to_ms(timeout_seconds), group_id, global_ranks);
           }),
           py::arg("store"), py::arg("rank"), py::arg("size"), py::arg("timeout_seconds"),
           py::arg("group_id"), py::arg("global_ranks"),
           // The bootstrap blocks on the store and on the other ranks.
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("topology", &mics_torch::MicsBackend::topology,
                             "[node, nnodes, local_rank, local_size] of this rank in the group")
      .def_property_readonly("description", &mics_torch::MicsBackend::describe);
}
