#include "topo/machine.h"

#include <cstdlib>
#include <sstream>

namespace mics::topo {
namespace {

constexpr const char* kHeader = "mics-machine 1";

// Fields that may legitimately be empty are written as "-" so that every line
// splits on whitespace; free text (names, notes) is always the rest of a line.
std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }
std::string undash(const std::string& s) { return s == "-" ? "" : s; }

std::string rest_of_line(std::istringstream& in) {
  std::string rest;
  std::getline(in >> std::ws, rest);
  return rest;
}

bool parse_path(const std::string& text, PciPath* out) {
  const std::string cls = text.substr(0, text.find('/'));
  bool found = false;
  for (PathType t : {PathType::kPix, PathType::kPxb, PathType::kPhb, PathType::kSys}) {
    if (cls == path_type_name(t)) {
      out->type = t;
      found = true;
    }
  }
  if (!found) return false;
  out->hops = -1;
  if (cls.size() == text.size()) return true;
  char* end = nullptr;
  long hops = strtol(text.c_str() + cls.size() + 1, &end, 10);
  if (*end != '\0' || hops < 0 || hops > 1000) return false;
  out->hops = static_cast<int>(hops);
  return true;
}

bool parse_kind(const std::string& text, NicKind* out) {
  for (NicKind k : {NicKind::kEfa, NicKind::kRdma, NicKind::kNetdev}) {
    if (text == nic_kind_name(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

void write_row(std::ostringstream& out, const char* tag, int row, const std::vector<PciPath>& m,
               size_t cols) {
  out << tag << ' ' << row;
  for (size_t c = 0; c < cols; ++c) out << ' ' << path_string(m[row * cols + c]);
  out << '\n';
}

// Reads "<row> <path>..." into matrix row `row` of a rows x cols matrix.
bool read_row(std::istringstream& in, size_t rows, size_t cols, std::vector<PciPath>* m) {
  int row = -1;
  if (!(in >> row) || row < 0 || static_cast<size_t>(row) >= rows) return false;
  m->resize(rows * cols);
  for (size_t c = 0; c < cols; ++c) {
    std::string cell;
    if (!(in >> cell) || !parse_path(cell, &(*m)[row * cols + c])) return false;
  }
  return (in >> std::ws).eof();
}

}  // namespace

bool nearer(const PciPath& a, const PciPath& b) {
  if (a.type != b.type) return a.type < b.type;
  // Unknown hops (-1) rank after any known count.
  const unsigned ha = static_cast<unsigned>(a.hops), hb = static_cast<unsigned>(b.hops);
  return ha < hb;
}

const char* path_type_name(PathType type) {
  switch (type) {
    case PathType::kPix:
      return "PIX";
    case PathType::kPxb:
      return "PXB";
    case PathType::kPhb:
      return "PHB";
    case PathType::kSys:
      return "SYS";
  }
  return "?";
}

std::string path_string(const PciPath& path) {
  std::string s = path_type_name(path.type);
  if (path.hops >= 0) s += "/" + std::to_string(path.hops);
  return s;
}

const char* nic_kind_name(NicKind kind) {
  switch (kind) {
    case NicKind::kEfa:
      return "efa";
    case NicKind::kRdma:
      return "rdma";
    case NicKind::kNetdev:
      return "netdev";
  }
  return "?";
}

bool Machine::operator==(const Machine& o) const {
  return numa_nodes == o.numa_nodes && gpus == o.gpus && nics == o.nics && gpu_nic == o.gpu_nic &&
         gpu_gpu == o.gpu_gpu && nvlink == o.nvlink;
}

std::string machine_to_text(const Machine& m) {
  std::ostringstream out;
  out << kHeader << '\n';
  for (const auto& n : m.numa_nodes) out << "numa " << n.os_index << ' ' << or_dash(n.cpus) << '\n';
  for (const auto& g : m.gpus)
    out << "gpu " << g.index << ' ' << g.pci_bus_id << ' ' << g.numa << ' ' << g.name << '\n';
  for (const auto& n : m.nics)
    out << "nic " << n.name << ' ' << nic_kind_name(n.kind) << ' ' << or_dash(n.pci_bus_id) << ' '
        << n.numa << '\n';
  for (int g = 0; g < m.ngpus(); ++g) write_row(out, "gpu_nic", g, m.gpu_nic, m.nics.size());
  for (int g = 0; g < m.ngpus(); ++g) write_row(out, "gpu_gpu", g, m.gpu_gpu, m.gpus.size());
  std::string peers;
  for (int p : m.nvlink.peers) peers += (peers.empty() ? "" : ",") + std::to_string(p);
  out << "nvlink " << or_dash(m.nvlink.source) << ' ' << (m.nvlink.nvswitch ? 1 : 0) << ' '
      << or_dash(peers) << ' ' << m.nvlink.note << '\n';
  return out.str();
}

Result machine_from_text(const std::string& text, Machine* out) {
  Machine m;
  m.origin = "text";
  std::istringstream lines(text);
  std::string line;
  int lineno = 0;
  size_t gpu_nic_rows = 0, gpu_gpu_rows = 0;
  while (std::getline(lines, line)) {
    ++lineno;
    if (lineno == 1) {
      if (line != kHeader)
        return MICS_ERROR(MICS_INVALID_ARGUMENT, "machine text: line 1 is '%.64s', expected '%s'",
                          line.c_str(), kHeader);
      continue;
    }
    std::istringstream in(line);
    std::string tag;
    if (!(in >> tag)) continue;  // blank line
    bool ok = false;
    if (tag == "numa") {
      NumaNode n;
      std::string cpus;
      ok = static_cast<bool>(in >> n.os_index >> cpus);
      n.cpus = undash(cpus);
      m.numa_nodes.push_back(n);
    } else if (tag == "gpu") {
      Gpu g;
      ok = (in >> g.index >> g.pci_bus_id >> g.numa) && g.index == m.ngpus();
      g.name = rest_of_line(in);
      m.gpus.push_back(g);
    } else if (tag == "nic") {
      Nic n;
      std::string kind, bus;
      ok = (in >> n.name >> kind >> bus >> n.numa) && parse_kind(kind, &n.kind);
      n.pci_bus_id = undash(bus);
      m.nics.push_back(n);
    } else if (tag == "gpu_nic") {
      ok = read_row(in, m.gpus.size(), m.nics.size(), &m.gpu_nic);
      ++gpu_nic_rows;
    } else if (tag == "gpu_gpu") {
      ok = read_row(in, m.gpus.size(), m.gpus.size(), &m.gpu_gpu);
      ++gpu_gpu_rows;
    } else if (tag == "nvlink") {
      std::string source, peers;
      int nvswitch = 0;
      ok = static_cast<bool>(in >> source >> nvswitch >> peers);
      m.nvlink.source = undash(source);
      m.nvlink.nvswitch = nvswitch != 0;
      m.nvlink.note = rest_of_line(in);
      std::istringstream list(undash(peers));
      for (std::string p; ok && std::getline(list, p, ',');) {
        char* end = nullptr;
        m.nvlink.peers.push_back(static_cast<int>(strtol(p.c_str(), &end, 10)));
        ok = !p.empty() && *end == '\0';
      }
    }
    if (!ok)
      return MICS_ERROR(MICS_INVALID_ARGUMENT, "machine text: cannot parse line %d: '%.120s'",
                        lineno, line.c_str());
  }
  if (lineno == 0) return MICS_ERROR(MICS_INVALID_ARGUMENT, "machine text: empty");
  // Both matrices must be complete, one row per GPU, or lookups would read garbage.
  if (gpu_nic_rows != m.gpus.size() || gpu_gpu_rows != m.gpus.size() ||
      (!m.nvlink.peers.empty() && m.nvlink.peers.size() != m.gpus.size()))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "machine text: %zu GPUs but %zu gpu_nic rows, %zu gpu_gpu rows, %zu nvlink "
                      "peer counts",
                      m.gpus.size(), gpu_nic_rows, gpu_gpu_rows, m.nvlink.peers.size());
  m.gpu_nic.resize(m.gpus.size() * m.nics.size());
  *out = std::move(m);
  return MICS_SUCCESS;
}

}  // namespace mics::topo
