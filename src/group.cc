// Groups (src/group.h). Why threads at group end: the algorithms of src/coll
// are blocking loops, one per communicator; issuing the recorded calls of
// several communicators one after another from one thread would deadlock as
// soon as two of them are ranks of the same job. So each communicator's calls
// run in order on a thread of their own (the caller's own thread when only one
// communicator is involved), and group end waits for all of them.
#include "src/group.h"

#include <thread>
#include <vector>

#include "src/comm.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

namespace mics::group {
namespace {

struct Failure {
  Result code = MICS_SUCCESS;
  std::string message;
  size_t index = 0;  // of the failed call in the group
};

struct GroupState {
  int depth = 0;
  std::vector<CollOp> ops;
  Failure cancelled;  // the first call that failed its checks inside the group
};

thread_local GroupState tls_group;

// The calls of one communicator, in the order they were recorded.
struct CommQueue {
  mics_comm* comm = nullptr;
  std::vector<size_t> ops;  // indices into the group's list
  Failure failure;
};

void run_queue(const std::vector<CollOp>& ops, CommQueue* q) {
  for (size_t i : q->ops) {
    Result r = execute(ops[i]);
    if (r == MICS_SUCCESS) continue;
    // The communicator is in an unknown state now: its later calls are not issued.
    q->failure = {r, thread_error(), i};
    q->comm->last_error = thread_error();
    return;
  }
}

Result end_group() {
  std::vector<CollOp> ops = std::move(tls_group.ops);
  Failure cancelled = std::move(tls_group.cancelled);
  tls_group = GroupState();
  if (cancelled.code != MICS_SUCCESS)
    return MICS_ERROR(cancelled.code,
                      "group_end: call %zu of the group failed its checks, so none of the %zu "
                      "calls recorded was issued: %s",
                      cancelled.index, ops.size(), cancelled.message.c_str());
  std::vector<CommQueue> queues;
  for (size_t i = 0; i < ops.size(); ++i) {
    CommQueue* q = nullptr;
    for (CommQueue& e : queues)
      if (e.comm == ops[i].comm) q = &e;
    if (!q) {
      queues.emplace_back();
      q = &queues.back();
      q->comm = ops[i].comm;
    }
    q->ops.push_back(i);
  }
  if (queues.size() == 1) {
    run_queue(ops, &queues[0]);
  } else if (queues.size() > 1) {
    std::vector<std::thread> threads;
    threads.reserve(queues.size() - 1);
    for (size_t k = 1; k < queues.size(); ++k)
      threads.emplace_back(run_queue, std::cref(ops), &queues[k]);
    run_queue(ops, &queues[0]);
    for (std::thread& t : threads) t.join();
  }
  const Failure* first = nullptr;
  for (const CommQueue& q : queues)
    if (q.failure.code != MICS_SUCCESS && (!first || q.failure.index < first->index))
      first = &q.failure;
  if (!first) return MICS_SUCCESS;
  const CollOp& op = ops[first->index];
  return MICS_ERROR(
      first->code, "group_end: call %zu of the group (%s on rank %d of %d) failed: %s",
      first->index, op_name(op.kind), op.comm->rank, op.comm->size, first->message.c_str());
}

}  // namespace

bool active() { return tls_group.depth > 0; }

Result record(const CollOp& op) {
  tls_group.ops.push_back(op);
  return MICS_SUCCESS;
}

void cancel(Result code, const std::string& message) {
  if (tls_group.cancelled.code == MICS_SUCCESS)
    tls_group.cancelled = {code, message, tls_group.ops.size()};
}

}  // namespace mics::group

MICS_API mics_result_t mics_group_start(void) {
  mics::clear_thread_error();
  ++mics::group::tls_group.depth;
  return MICS_SUCCESS;
}

MICS_API mics_result_t mics_group_end(void) {
  mics::clear_thread_error();
  if (mics::group::tls_group.depth == 0)
    return MICS_ERROR(MICS_INVALID_USAGE, "mics_group_end without a matching mics_group_start");
  if (--mics::group::tls_group.depth > 0) return MICS_SUCCESS;
  return mics::group::end_group();
}
