// transport/shm/peer_fd: duplicating an fd out of another process
// (pidfd_getfd), as transport/cuda_ipc does with a peer's exported CUDA
// allocation. A child holds memfds filled with random bytes; the parent
// duplicates them by number and reads them back byte by byte. Also the
// errors the importer relies on: a closed or invalid fd number (EBADF), a
// process that is gone (ESRCH), a pid that is no process (ESRCH).
#include "transport/shm/peer_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "harness.h"

namespace {

using mics::transport::shm::duplicate_peer_fd;

// Sizes of the child's memfds: empty, one byte, odd, over a page, > 1 MiB.
const std::vector<size_t> kSizes = {0, 1, 4099, (1u << 20) + 3};

uint8_t ExpectedByte(uint64_t seed, size_t file, size_t i) {
  return static_cast<uint8_t>(mics_test::StreamAt(mics_test::StreamBase(seed, file, 0), i));
}

bool WriteFully(int fd, const void* src, size_t len) {
  const auto* in = static_cast<const char*>(src);
  while (len > 0) {
    ssize_t put = write(fd, in, len);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    in += put, len -= static_cast<size_t>(put);
  }
  return true;
}

// The child: one memfd per size filled with its random bytes, plus one fd
// number it opened and closed again; reports the numbers through `report`
// and waits until the parent closes `hold` (or dies: PDEATHSIG).
[[noreturn]] void RunChild(uint64_t seed, int report, int hold) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<int> fds;
  for (size_t f = 0; f < kSizes.size(); ++f) {
    int fd = memfd_create("mics_peer_fd_test", MFD_CLOEXEC);
    if (fd < 0) _exit(2);
    std::vector<uint8_t> bytes(kSizes[f]);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = ExpectedByte(seed, f, i);
    if (!WriteFully(fd, bytes.data(), bytes.size())) _exit(3);
    fds.push_back(fd);
  }
  int closed = memfd_create("mics_peer_fd_test_closed", MFD_CLOEXEC);
  if (closed < 0) _exit(2);
  close(closed);
  fds.push_back(closed);  // nothing is opened after: the number stays free
  if (!WriteFully(report, fds.data(), fds.size() * sizeof(int))) _exit(4);
  char byte;
  while (read(hold, &byte, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

// A child process holding the memfds; killed and reaped at the end.
class PeerFdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = mics_test::TestSeed();
    int report[2], hold[2];
    ASSERT_EQ(pipe2(report, O_CLOEXEC), 0) << strerror(errno);
    ASSERT_EQ(pipe2(hold, O_CLOEXEC), 0) << strerror(errno);
    child_ = fork();
    ASSERT_GE(child_, 0) << strerror(errno);
    if (child_ == 0) {
      close(report[0]);
      close(hold[1]);
      RunChild(seed_, report[1], hold[0]);
    }
    close(report[1]);
    close(hold[0]);
    hold_ = hold[1];
    child_fds_.resize(kSizes.size() + 1);
    bool got =
        mics_test::ReadFully(report[0], child_fds_.data(), child_fds_.size() * sizeof(int), 30000);
    close(report[0]);
    ASSERT_TRUE(got) << "the child did not report its fds within 30 s";
  }

  void TearDown() override {
    if (hold_ >= 0) close(hold_);
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }

  uint64_t seed_ = 0;
  pid_t child_ = -1;
  int hold_ = -1;
  std::vector<int> child_fds_;  // one per kSizes entry, then the closed one
};

TEST_F(PeerFdTest, DuplicatesTheChildsMemfdsByteExact) {
  for (size_t f = 0; f < kSizes.size(); ++f) {
    int copy = -1;
    int err = duplicate_peer_fd(child_, child_fds_[f], &copy);
    if (err == ENOSYS) GTEST_SKIP() << "no pidfd_getfd (Linux < 5.6)";
    ASSERT_EQ(err, 0) << "fd " << child_fds_[f] << ": " << strerror(err);
    ASSERT_GE(copy, 0);
    EXPECT_TRUE(fcntl(copy, F_GETFD) & FD_CLOEXEC) << "the duplicate must be close-on-exec";
    struct stat st {};
    ASSERT_EQ(fstat(copy, &st), 0) << strerror(errno);
    EXPECT_EQ(static_cast<size_t>(st.st_size), kSizes[f]);
    // One byte more than written: the read must stop at the file's end.
    std::vector<uint8_t> bytes(kSizes[f] + 1);
    ssize_t got = pread(copy, bytes.data(), bytes.size(), 0);
    close(copy);
    ASSERT_EQ(got, static_cast<ssize_t>(kSizes[f])) << strerror(errno);
    size_t mismatches = 0;
    for (size_t i = 0; i < kSizes[f]; ++i) {
      if (bytes[i] != ExpectedByte(seed_, f, i) && ++mismatches <= 5)
        ADD_FAILURE() << "file " << f << " byte " << i << ": got " << int{bytes[i]} << ", expected "
                      << int{ExpectedByte(seed_, f, i)};
    }
    EXPECT_EQ(mismatches, 0u) << "file " << f << " of " << kSizes[f] << " bytes";
  }
}

TEST_F(PeerFdTest, FdNumberNotOpenInTheChildIsEbadf) {
  int copy = 12345;
  int err = duplicate_peer_fd(child_, child_fds_.back(), &copy);
  if (err == ENOSYS) GTEST_SKIP() << "no pidfd_getfd (Linux < 5.6)";
  EXPECT_EQ(err, EBADF) << "closed fd " << child_fds_.back() << ": " << strerror(err);
  EXPECT_EQ(copy, -1);
  EXPECT_EQ(duplicate_peer_fd(child_, -1, &copy), EBADF);
  EXPECT_EQ(duplicate_peer_fd(child_, 1 << 30, &copy), EBADF);
  EXPECT_EQ(copy, -1);
}

TEST(PeerFd, ExitedProcessIsEsrch) {
  pid_t dead = fork();
  ASSERT_GE(dead, 0) << strerror(errno);
  if (dead == 0) _exit(0);
  int status = 0;
  ASSERT_EQ(waitpid(dead, &status, 0), dead) << strerror(errno);
  int copy = 12345;
  int err = duplicate_peer_fd(dead, 0, &copy);
  if (err == ENOSYS) GTEST_SKIP() << "no pidfd_getfd (Linux < 5.6)";
  EXPECT_EQ(err, ESRCH) << strerror(err);
  EXPECT_EQ(copy, -1);
}

TEST(PeerFd, PidThatIsNoProcessIsEsrch) {
  for (int pid : {0, -1, -12345}) {
    int copy = 12345;
    EXPECT_EQ(duplicate_peer_fd(pid, 0, &copy), ESRCH) << "pid " << pid;
    EXPECT_EQ(copy, -1) << "pid " << pid;
  }
}

}  // namespace
