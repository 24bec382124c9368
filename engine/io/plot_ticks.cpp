// The numbers around a plot: smoothing of noisy curves, nice tick values and their labels.
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "engine/io/plot.h"

namespace gan {

namespace {

// The fewest decimals (up to 17) that write `step` exactly enough: 0.25 -> 2, 5 -> 0.
int decimals_for(double step) {
  for (int d = 0; d < 17; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) <= 1e-6 * scaled) return d;
  }
  return 17;
}

std::string fixed(double v, int decimals) {
  char buf[400];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return std::string(buf, res.ptr);
}

// "12.50" -> "12.5", "3.0" -> "3".
std::string trim_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// "-0", "-0.00" and the like lose their sign: a tick at zero is just zero.
std::string unsigned_zero(std::string s) {
  if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("0.", 1) == std::string::npos)
    s.erase(0, 1);
  return s;
}

// v over the step m * 10^e; for e < 0 as v * 10^-e / m, where 10^-e is exact (up to 10^27), so
// a tick such as 1 = 5 * 0.2 counts as exactly 5 steps.
long double in_steps(double v, int m, int e) {
  return e >= 0 ? v / (m * std::pow(10.0L, e)) : v * std::pow(10.0L, -e) / m;
}
// Tolerance on step counts: ticks found with it are kept only if they lie inside the range.
constexpr long double kSlack = 1e-9L;

}  // namespace

std::vector<double> smooth_ema(const std::vector<double>& values, double weight) {
  if (!(weight >= 0.0 && weight < 1.0))
    throw std::invalid_argument("smooth_ema: weight " + std::to_string(weight) +
                                " is outside [0, 1)");
  if (weight == 0.0) return values;
  std::vector<double> out(values.size());
  double ema = 0.0, weight_k = 1.0;  // weight_k: weight^k after k finite values
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!std::isfinite(v)) {
      out[i] = v;
      continue;
    }
    ema = ema * weight + (1.0 - weight) * v;
    weight_k *= weight;
    out[i] = ema / (1.0 - weight_k);
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
    throw std::invalid_argument("nice_ticks: need finite lo < hi, got [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "]");
  // In long double: hi - lo of two extreme doubles stays finite, and so does 10^e of a span far
  // below double's smallest normal.
  const long double span = (long double)hi - lo;
  const int e0 = int(std::floor(std::log10(span)));
  // Step = m * 10^e with m in {10, 20, 25, 50} (1, 2, 2.5, 5 one decade up): the count of its
  // multiples nearest 6 wins, 2.5 only on a clear win (its labels need a decimal more).
  int best_m = 0, best_e = 0;
  long double best_step = 0, best_score = 0;
  for (int e = e0 - 3; e <= e0; ++e)
    for (int m : {10, 20, 25, 50}) {
      const long double step = m * std::pow(10.0L, e);
      const long double count =
          std::floor(in_steps(hi, m, e) + kSlack) - std::ceil(in_steps(lo, m, e) - kSlack) + 1;
      if (count < 3 || count > 8) continue;
      const long double score = std::fabs(count - 6) + (m == 25 ? 0.5L : 0.0L);
      if (best_m == 0 || score < best_score || (score == best_score && step > best_step)) {
        best_m = m;
        best_e = e;
        best_step = step;
        best_score = score;
      }
    }
  if (best_m == 0) {  // too few doubles in the range for 3 ticks: the nearest of the decade
    best_m = 10;
    best_e = e0 - 1;
  }
  const long double first = std::ceil(in_steps(lo, best_m, best_e) - kSlack);
  const long double last = std::floor(in_steps(hi, best_m, best_e) + kSlack);
  std::vector<double> ticks;
  for (long double n = first; n <= last && ticks.size() < 64; n += 1) {
    // n * m is an integer; over a power of ten that is exact in double the quotient is correctly
    // rounded, so ticks print as the decimals they are (0.3, not 0.30000000000000004).
    const long double units = n * best_m;
    double v;
    if (best_e >= 0 && best_e <= 22 && std::fabs(units) < 0x1p53L)
      v = double(units) * std::pow(10.0, best_e);
    else if (best_e < 0 && best_e >= -22 && std::fabs(units) < 0x1p53L)
      v = double(units) / std::pow(10.0, -best_e);
    else
      v = double(units * std::pow(10.0L, best_e));
    v += 0.0;  // -0 -> 0
    if (v >= lo && v <= hi && (ticks.empty() || v > ticks.back())) ticks.push_back(v);
  }
  return ticks;
}

std::string format_tick(double value, double step) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  double a = std::fabs(value);
  // No spacing to go by: six significant digits, trailing zeros dropped.
  const bool free = !(step > 0.0) || !std::isfinite(step);
  if (free) step = a > 0.0 ? std::pow(10.0, std::floor(std::log10(a)) - 5) : 1.0;
  if (a < 1e-9 * step) a = value = 0.0;  // rounding noise of a tick at zero
  if (a != 0.0 && (a < 1e-4 || a >= 1e9)) {
    int e = int(std::floor(std::log10(a)));
    const int d = std::min(decimals_for(step / std::pow(10.0, e)), 15);
    std::string mantissa = fixed(value / std::pow(10.0, e), d);
    if (mantissa == "10" || mantissa.rfind("10.", 0) == 0 || mantissa.rfind("-10", 0) == 0) {
      ++e;  // 9.99.. rounded up a decade
      mantissa = fixed(value / std::pow(10.0, e), d);
    }
    return trim_zeros(mantissa) + "e" + std::to_string(e);
  }
  // Thousands and millions with their decimals trimmed: 12k and 12.5k side by side.
  if (a >= 1e6) return trim_zeros(fixed(value / 1e6, decimals_for(step / 1e6))) + "M";
  if (a >= 1e4) return trim_zeros(fixed(value / 1e3, decimals_for(step / 1e3))) + "k";
  const std::string plain = unsigned_zero(fixed(value, decimals_for(step)));
  return free ? trim_zeros(plain) : plain;
}

}  // namespace gan
