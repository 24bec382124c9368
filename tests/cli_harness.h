// The apps' end-to-end tests (mnist_gan, toy_gan): the binary run as a child process in a fresh
// temp dir, with its exit status and output, the one-line `NAME: error: ...` contract, and readers
// of what lands in a run directory (metrics.csv, PNGs, safetensors, checkpoints).
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/train/checkpoint.h"

namespace gan::test {

namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;
// `d` times GAN_TEST_TIME_SCALE when that is set above 1 (scripts/sanitize.sh sets it: sanitized
// children run several times slower).
inline Clock::duration time_scaled(Clock::duration d) {
  const char* s = std::getenv("GAN_TEST_TIME_SCALE");
  const double f = s ? std::strtod(s, nullptr) : 1.0;
  return f > 1.0 ? std::chrono::duration_cast<Clock::duration>(d * f) : d;
}

// Bound on any single child process: every run in these tests takes well under a second.
inline const Clock::duration kDeadline = time_scaled(std::chrono::seconds(20));

// The first line of a sanitizer report in a child's stderr ("" if none). Under
// scripts/sanitize.sh a report also aborts the child, but a test that expects a failing exit
// must not be able to mistake a report for the error it expects.
inline std::string sanitizer_report(const std::string& err) {
  for (const char* mark : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                           "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
                           "SUMMARY: LeakSanitizer", ": runtime error: "}) {
    const size_t at = err.find(mark);
    if (at == std::string::npos) continue;
    const size_t begin = err.rfind('\n', at) == std::string::npos ? 0 : err.rfind('\n', at) + 1;
    return err.substr(begin, err.find('\n', at) - begin);
  }
  return "";
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct Scratch {
  fs::path path;
  explicit Scratch(const std::string& prefix = "gan_cli") {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path = fs::temp_directory_path() / (prefix + "_" + std::to_string(getpid()) + "_" +
                                        std::to_string(counter++) + "_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// ---- child processes ----

struct Outcome {
  int status = -1;  // as waitpid reports it
  std::string out, err;
  bool timed_out = false;

  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
  std::string describe() const {
    std::string how = timed_out             ? "timed out (killed)"
                      : WIFEXITED(status)   ? "exit " + std::to_string(WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                            : "status " + std::to_string(status);
    return how + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
  }
};

// The program `binary` with `args`, stdout and stderr into files under `logs`, in `cwd` when given.
// The destructor kills (SIGKILL) and reaps a child still running, so a failed assertion never
// leaves a process behind.
class Child {
 public:
  Child(const std::string& binary, const std::vector<std::string>& args, const fs::path& logs,
        const std::string& cwd = "") {
    static std::atomic<int> counter{0};
    const int n = counter++;
    out_path_ = (logs / ("run" + std::to_string(n) + ".out")).string();
    err_path_ = (logs / ("run" + std::to_string(n) + ".err")).string();
    std::vector<std::string> full{binary};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      const int o = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = open("/dev/null", O_RDONLY);
      if (o < 0 || e < 0 || in < 0) _exit(126);
      dup2(in, 0);
      dup2(o, 1);
      dup2(e, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string out_so_far() const { return slurp(out_path_); }

  // True (and the status recorded) once the child has exited.
  bool poll() {
    if (reaped_) return true;
    int st;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
    }
    return reaped_;
  }

  // Waits until the child exits or `limit` passes (then kills it: timed_out).
  Outcome wait(Clock::duration limit = kDeadline) {
    Outcome o;
    const auto deadline = Clock::now() + limit;
    while (!poll()) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
        reaped_ = true;
        o.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    o.status = status_;
    o.out = slurp(out_path_);
    o.err = slurp(err_path_);
    const std::string report = sanitizer_report(o.err);
    if (!report.empty())
      ADD_FAILURE() << "sanitizer report in a child: " << report << "\n" << o.describe();
    return o;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string out_path_, err_path_;
};

// Exit 1 and exactly one stderr line `<program>: error: ...` holding every part.
inline ::testing::AssertionResult is_error(const std::string& program, const Outcome& o,
                                           const std::vector<std::string>& parts) {
  if (o.code() != 1) return ::testing::AssertionFailure() << "expected exit 1: " << o.describe();
  const std::string prefix = program + ": error: ";
  if (o.err.compare(0, prefix.size(), prefix) != 0)
    return ::testing::AssertionFailure()
           << "stderr does not start with '" << prefix << "': " << o.describe();
  if (o.err.empty() || o.err.back() != '\n' || o.err.find('\n') != o.err.size() - 1)
    return ::testing::AssertionFailure() << "stderr is not exactly one line: " << o.describe();
  for (const auto& p : parts)
    if (o.err.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "stderr lacks '" << p << "': " << o.describe();
  return ::testing::AssertionSuccess() << o.err;
}

// A CLI11 parse error: non-zero exit, its message on stderr naming every part.
inline ::testing::AssertionResult is_parse_error(const Outcome& o,
                                                 const std::vector<std::string>& parts) {
  if (!WIFEXITED(o.status) || o.code() == 0)
    return ::testing::AssertionFailure() << "expected a non-zero exit: " << o.describe();
  for (const auto& p : parts)
    if (o.err.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "stderr lacks '" << p << "': " << o.describe();
  return ::testing::AssertionSuccess();
}

// `base`, then every default flag and value that `extra` does not give, then `extra` (CLI11
// refuses a repeated flag, so a flag in `extra` replaces its default).
inline std::vector<std::string> with_defaults(
    std::vector<std::string> base, const std::vector<std::pair<std::string, std::string>>& defaults,
    const std::vector<std::string>& extra) {
  for (const auto& [flag, value] : defaults)
    if (std::find(extra.begin(), extra.end(), flag) == extra.end()) {
      base.push_back(flag);
      base.push_back(value);
    }
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

// A test fixture for one program: a scratch dir with a logs/ folder for the children's output,
// and the program run to completion (within kDeadline unless told).
class CliTest : public ::testing::Test {
 protected:
  CliTest(std::string program, std::string binary)
      : program_(std::move(program)), binary_(std::move(binary)), tmp(program_ + "_cli") {}

  // The children see no GPU: a CPU test pins its device, so `--device auto` (the default) and a
  // resumed run stay on the CPU on a machine with a GPU too, and bitwise comparisons hold there.
  void SetUp() override {
    fs::create_directories(logs);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
  }

  Outcome invoke(const std::vector<std::string>& args, const std::string& cwd = "",
                 Clock::duration limit = kDeadline) {
    Child c(binary_, args, logs, cwd);
    if (!c.started()) {
      ADD_FAILURE() << "fork failed";
      return {};
    }
    Outcome o = c.wait(limit);
    EXPECT_FALSE(o.timed_out) << program_
                              << " did not finish within the deadline: " << o.describe();
    return o;
  }

  // is_error for this fixture's program.
  ::testing::AssertionResult is_error(const Outcome& o,
                                      const std::vector<std::string>& parts) const {
    return ::gan::test::is_error(program_, o, parts);
  }

  const std::string program_, binary_;
  Scratch tmp;
  fs::path logs = tmp.path / "logs";
};

// An environment variable set for the scope: the children started while it lives inherit it (each
// test runs in a process of its own under ctest, so nothing else sees it).
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

// ---- run-directory readers ----

struct Metrics {
  std::string header;
  std::vector<uint64_t> steps;
  std::vector<std::vector<std::string>> rows;  // every row, split at commas
};

inline std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream s(line);
  std::string cell;
  while (std::getline(s, cell, ',')) cells.push_back(cell);
  return cells;
}

// A CSV file whose first column is the step: metrics.csv, toy_metrics.csv.
inline Metrics read_metrics(const std::string& path) {
  Metrics m;
  std::istringstream in(slurp(path));
  std::getline(in, m.header);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    m.rows.push_back(split_csv(line));
    m.steps.push_back(std::strtoull(line.c_str(), nullptr, 10));
  }
  return m;
}

inline ::testing::AssertionResult strictly_increasing(const std::vector<uint64_t>& steps) {
  for (size_t i = 1; i < steps.size(); ++i)
    if (steps[i] <= steps[i - 1])
      return ::testing::AssertionFailure() << "metrics.csv step " << steps[i] << " follows step "
                                           << steps[i - 1] << " (duplicate or out of order)";
  return ::testing::AssertionSuccess();
}

// Every row as many cells as the header has columns, each a finite number; in the columns named in
// `nan_ok` the text "nan" passes too (a number with nothing to measure).
inline ::testing::AssertionResult all_finite(const Metrics& m,
                                             const std::set<std::string>& nan_ok = {}) {
  const std::vector<std::string> columns = split_csv(m.header);
  for (const auto& row : m.rows) {
    if (row.size() != columns.size())
      return ::testing::AssertionFailure()
             << "a row of " << row.size() << " cells under the header '" << m.header << "'";
    for (size_t c = 0; c < row.size(); ++c) {
      char* end = nullptr;
      const double v = std::strtod(row[c].c_str(), &end);
      const bool number = !row[c].empty() && *end == '\0';
      if (number && (std::isfinite(v) || (nan_ok.count(columns[c]) && std::isnan(v)))) continue;
      return ::testing::AssertionFailure()
             << "row of step " << row[0] << ": " << columns[c] << " = '" << row[c] << "'";
    }
  }
  return ::testing::AssertionSuccess();
}

// An 8-bit PNG: signature and IHDR; returns (width, height) or (0, 0).
inline std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  const std::string b = slurp(path);
  static const char sig[] = "\x89PNG\r\n\x1a\n";
  if (b.size() < 33 || b.compare(0, 8, std::string(sig, 8)) != 0 || b.compare(12, 4, "IHDR") != 0)
    return {0, 0};
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
           uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
  };
  return {be32(16), be32(20)};
}

// A safetensors file: 8-byte little-endian header length N, a JSON header starting at byte 8,
// F32 tensors whose data offsets tile the rest of the file exactly. Returns the header and the
// data bytes (empty header on failure, with a test failure naming the problem).
inline std::pair<nlohmann::json, std::string> read_safetensors(const std::string& path) {
  const std::string b = slurp(path);
  if (b.size() < 8) {
    ADD_FAILURE() << path << ": " << b.size() << " bytes, no safetensors header";
    return {};
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | uint8_t(b[size_t(i)]);
  if (n > b.size() - 8 || n < 2 || b[8] != '{') {
    ADD_FAILURE() << path << ": header length " << n << " in a " << b.size()
                  << "-byte file, or no JSON object at byte 8";
    return {};
  }
  nlohmann::json h = nlohmann::json::parse(b.substr(8, n), nullptr, false);
  if (h.is_discarded() || !h.is_object()) {
    ADD_FAILURE() << path << ": header is not a JSON object";
    return {};
  }
  const std::string data = b.substr(8 + n);
  uint64_t end = 0;
  size_t tensors = 0;
  for (auto& [name, t] : h.items()) {
    if (name == "__metadata__") continue;
    ++tensors;
    EXPECT_EQ(t.at("dtype"), "F32") << path << ": " << name;
    uint64_t count = 1;
    for (auto d : t.at("shape")) count *= d.get<uint64_t>();
    const uint64_t a = t.at("data_offsets")[0], z = t.at("data_offsets")[1];
    EXPECT_EQ(z - a, 4 * count) << path << ": " << name;
    end = std::max(end, z);
  }
  EXPECT_GT(tensors, 0u) << path;
  EXPECT_EQ(end, data.size()) << path << ": tensor data does not fill the file";
  return {h, data};
}

// Every tensor of the checkpoint finite; its step counter is `step`.
inline ::testing::AssertionResult good_checkpoint(const std::string& path, uint64_t step) {
  Checkpoint c;
  try {
    c = load_checkpoint(path);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "cannot load: " << e.what();
  }
  auto it = c.counters.find("step");
  if (it == c.counters.end() || it->second != step)
    return ::testing::AssertionFailure() << path << ": step counter is not " << step;
  if (c.tensors.empty()) return ::testing::AssertionFailure() << path << ": no tensors";
  for (const auto& t : c.tensors)
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i]))
        return ::testing::AssertionFailure()
               << path << ": " << t.name << "[" << i << "] = " << t.data[i];
  return ::testing::AssertionSuccess();
}

inline std::vector<uint64_t> checkpoint_steps(const std::string& run) {
  std::vector<uint64_t> s;
  for (const auto& [step, path] : list_checkpoints(run)) s.push_back(step);
  return s;
}

// Whether a model of config.json ({"input": ..., "layers": [{"kind": ...}, ...]}) has a layer of
// `kind`.
inline bool has_layer(const nlohmann::json& model, const std::string& kind) {
  const nlohmann::json& layers = model.at("layers");
  return std::any_of(layers.begin(), layers.end(),
                     [&](const nlohmann::json& l) { return l.value("kind", "") == kind; });
}

// Every regular file under `dir` with its bytes, to prove a refused command touched nothing.
inline std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}

inline std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// No config.json, metrics.csv, checkpoint or generator under `run` (it may not exist at all).
inline ::testing::AssertionResult nothing_looks_valid(const std::string& run) {
  for (const char* f : {"config.json", "metrics.csv", "generator.safetensors"})
    if (fs::exists(fs::path(run) / f))
      return ::testing::AssertionFailure() << run << "/" << f << " was written";
  if (!list_checkpoints(run).empty())
    return ::testing::AssertionFailure() << run << " holds a checkpoint";
  return ::testing::AssertionSuccess();
}

}  // namespace gan::test
