// Helpers shared by the tests: fresh random inputs with a printed seed, element-wise comparison
// that names the tensor, index and both values.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace gan::test {

// Every test draws fresh inputs; the seed is printed with any failure, and GAN_TEST_SEED=<n>
// replays it.
inline uint64_t fresh_seed() {
  if (const char* s = std::getenv("GAN_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

class Rng {
 public:
  Rng() : seed_(fresh_seed()), gen_(seed_) {}
  uint64_t seed() const { return seed_; }
  std::string trace() const { return "GAN_TEST_SEED=" + std::to_string(seed_); }

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(gen_);
  }
  int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  uint64_t bits() { return gen_(); }

  template <class T>
  std::vector<T> vec(size_t n, double lo = -1.0, double hi = 1.0) {
    std::vector<T> v(n);
    for (auto& x : v) x = T(uniform(lo, hi));
    return v;
  }

 private:
  uint64_t seed_;
  std::mt19937_64 gen_;
};

// |got - want| <= atol + rtol * |want| for every element (NaN fails); reports up to 10 offenders.
template <class A, class B>
::testing::AssertionResult all_close(const std::string& name, const std::vector<A>& got,
                                     const std::vector<B>& want, double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure()
           << name << ": size " << got.size() << " vs " << want.size();
  size_t bad = 0;
  std::string msg;
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = double(got[i]), w = double(want[i]);
    double err = std::fabs(g - w);
    bool ok = std::isfinite(g) && err <= atol + rtol * std::fabs(w);
    if (!ok) {
      if (++bad <= 10)
        msg += "\n  " + name + "[" + std::to_string(i) + "]: got " + std::to_string(g) + ", want " +
               std::to_string(w) + " (diff " + std::to_string(err) + ")";
    }
    if (std::isfinite(err) && err > worst) worst = err;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << name << ": " << bad << " of " << got.size() << " elements outside atol " << atol
         << " + rtol " << rtol << " (max finite diff " << worst << ")" << msg;
}

// Bit patterns equal element by element (NaN included); names the first difference.
inline ::testing::AssertionResult same_bits(const std::string& name, const std::vector<float>& a,
                                            const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << name << ": sizes differ";
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << name << "[" << i << "]: " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

// action() throws std::exception whose message is one line containing every part.
inline ::testing::AssertionResult throws_with(const std::function<void()>& action,
                                              const std::vector<std::string>& parts) {
  try {
    action();
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    if (msg.find('\n') != std::string::npos)
      return ::testing::AssertionFailure() << "message is not one line: " << msg;
    for (const auto& part : parts)
      if (msg.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << part << "': " << msg;
    return ::testing::AssertionSuccess() << msg;
  }
  return ::testing::AssertionFailure() << "no exception thrown";
}

// A unique directory under the system temp dir, removed with its contents at scope exit (made
// writable again first, for tests that take write permission away).
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(Rng& rng)
      : path(std::filesystem::temp_directory_path() / ("gan_test_" + std::to_string(rng.bits()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path.string(); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace gan::test
