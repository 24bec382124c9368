// The training flags shared by mnist_gan and toy_gan: each overrides one setting of the preset or
// experiment, and is applied only when given. Also the signal handling both apps use.
#pragma once
#include <unistd.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "engine/train/train_config.h"
#include "engine/train/training_run.h"

namespace gan::app {

inline std::atomic<int> g_stop_signal{0};

inline void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int signo) { g_stop_signal.store(signo); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// ---- strict numbers: CLI11 alone saturates 2^64 to 2^64 - 1, ignores an empty value and takes
// "nan"; these validators see the text first and refuse all of that, naming the bound. ----

// A whole decimal number in [lo, hi]: digits only (no sign, no fraction, no exponent).
inline CLI::Validator whole_number(uint64_t lo, uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [p, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec == std::errc::invalid_argument || p != end)
          return fmt::format("expected a whole number in [{}, {}], got '{}'", lo, hi, text);
        if (ec == std::errc::result_out_of_range || v < lo || v > hi)
          return fmt::format("must be in [{}, {}], got {}", lo, hi, text);
        return "";
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

// A finite decimal number (ranges are checked with the rest of the config).
inline CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) ||
            std::fabs(v) > 3.0e38)
          return fmt::format("expected a finite number, got '{}'", text);
        return "";
      },
      "NUMBER");
}

// Parses the command line. Returns -1 to go on; otherwise the exit status: 0 after --help, 1 after
// a parse error, said in one line `<program>: error: ...` on stderr (CLI11's own codes, 104-109,
// and its multi-line messages are not what the README promises).
inline int parse_command_line(CLI::App& app, int argc, char** argv, const char* program) {
  // CLI11 says only "A subcommand is required" for a mistyped one: name it and the known ones.
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == argv[1];
    }
    if (!found) {
      std::fprintf(stderr, "%s: error: unknown command '%s' (expected one of: %s)\n", program,
                   argv[1], known.c_str());
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", program, what.c_str(), program);
    return 1;
  }
}

// The one line `<program>: error: ...` on stderr for an exception that ends the program; exit 1.
// Memory exhaustion gets a message a user can act on, not a bare "std::bad_alloc".
inline int report_error(const char* program, const std::exception& e) {
  std::fflush(stdout);
  if (dynamic_cast<const std::bad_alloc*>(&e))
    std::fprintf(stderr,
                 "%s: error: out of host memory (%s): reduce --batch or the model's size\n",
                 program, e.what());
  else
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
  return 1;
}

inline void set_lr(OptimizerConfig& o, float lr) {
  switch (o.kind) {
    case OptimizerKind::Adam: o.adam.lr = lr; break;
    case OptimizerKind::Sgd: o.sgd.lr = lr; break;
    case OptimizerKind::Rmsprop: o.rmsprop.lr = lr; break;
  }
}

// ProGAN's place for the feature: before D's last dense layer.
inline void add_minibatch_stddev(ModelSpec& d) {
  for (size_t i = d.layers.size(); i-- > 0;)
    if (d.layers[i].kind == LayerKind::Dense) {
      d.layers.insert(d.layers.begin() + long(i), LayerSpec::minibatch_stddev());
      return;
    }
  throw std::invalid_argument("--minibatch-stddev: the discriminator has no dense layer");
}

// --conditional: MNIST-format data sets have ten classes.
inline constexpr int kConditionalClasses = 10;

struct Overrides {
  std::optional<int> batch, z_dim, d_steps, log_every, sample_every, checkpoint_every, keep, grid,
      scale, pack;
  std::optional<uint64_t> steps, seed, lr_decay_every, instance_noise_steps, ema_start;
  std::optional<float> lr, lr_g, lr_d, beta1, beta2, label_smoothing, momentum, lr_decay, clip,
      instance_noise, ema;
  std::optional<std::string> noise, g_loss, d_update, init, loss, optimizer;
  bool wgan = false, minibatch_stddev = false, conditional = false;

  // In order: --wgan's bundle, the optimizer kind, then every single setting (so a flag given
  // beside --wgan overrides its part of the bundle).
  void apply(TrainConfig& c) const {
    if (wgan) {  // the WGAN paper's settings (Arjovsky et al. 2017, Algorithm 1)
      c.loss = GanLoss::Wasserstein;
      c.label_smoothing = 0.0f;
      for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
        o->kind = OptimizerKind::Rmsprop;
        o->rmsprop.lr = 5e-5f;
      }
      c.opt_d.clip = 0.01f;
      c.d_steps = 5;
      c.d_update = DUpdate::Joint;
    }
    if (optimizer) c.opt_g.kind = c.opt_d.kind = optimizer_from_name(*optimizer);
    if (batch) c.batch = *batch;
    if (steps) c.steps = *steps;
    if (seed) c.seed = *seed;
    if (z_dim) c.generator.input = *z_dim + c.classes;  // a conditional G also reads the code
    if (d_steps) c.d_steps = *d_steps;
    if (log_every) c.log_every = *log_every;
    if (sample_every) c.sample_every = *sample_every;
    if (checkpoint_every) c.checkpoint_every = *checkpoint_every;
    if (keep) c.keep_checkpoints = *keep;
    if (grid) c.sample_grid = *grid;
    if (scale) c.sample_scale = *scale;
    if (lr) set_lr(c.opt_g, *lr), set_lr(c.opt_d, *lr);
    if (lr_g) set_lr(c.opt_g, *lr_g);
    if (lr_d) set_lr(c.opt_d, *lr_d);
    if (beta1) c.opt_g.adam.beta1 = c.opt_d.adam.beta1 = *beta1;
    if (beta2) c.opt_g.adam.beta2 = c.opt_d.adam.beta2 = *beta2;
    if (momentum) c.opt_g.sgd.momentum = c.opt_d.sgd.momentum = *momentum;
    for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
      if (lr_decay) o->adam.decay = o->sgd.decay = *lr_decay;
      if (lr_decay_every) o->adam.decay_every = o->sgd.decay_every = *lr_decay_every;
    }
    if (clip) c.opt_d.clip = *clip;
    if (label_smoothing) c.label_smoothing = *label_smoothing;
    if (instance_noise) c.instance_noise = *instance_noise;
    if (instance_noise_steps) c.instance_noise_steps = *instance_noise_steps;
    if (noise) c.noise = distribution_from_name(*noise);
    if (loss) c.loss = gan_loss_from_name(*loss);
    if (g_loss) c.g_loss = g_loss_from_name(*g_loss);
    if (d_update) c.d_update = d_update_from_name(*d_update);
    if (init) c.init = init_scheme_from_name(*init);
    if (minibatch_stddev) add_minibatch_stddev(c.discriminator);
    if (ema) {
      if (!(*ema > 0.0f && *ema < 1.0f))
        throw std::invalid_argument(fmt::format("--ema: must be in (0, 1) (got {:g})", *ema));
      c.ema = *ema;
    }
    if (ema_start) {
      if (c.ema == 0.0f) throw std::invalid_argument("--ema-start: needs --ema");
      c.ema_start = *ema_start;
    }
    // The code is part of each sample D judges, so conditioning comes before packing.
    if (conditional) make_conditional(c, kConditionalClasses);
    if (pack) add_packing(c, *pack);
  }

  // Settings a resumed run may not change (they come from its config.json).
  bool any_model_setting() const {
    return batch || z_dim || d_steps || lr || lr_g || lr_d || beta1 || beta2 || label_smoothing ||
           noise || g_loss || d_update || init || seed || grid || scale || momentum || lr_decay ||
           lr_decay_every || clip || instance_noise || instance_noise_steps || loss || optimizer ||
           wgan || minibatch_stddev || pack || ema || ema_start || conditional;
  }

  void add_to(CLI::App* cmd) {
    // Every number is checked as text first (whole_number, finite_number): no wrap-around, no
    // saturation, no empty or non-finite value slips through; the bounds are the config's.
    const auto count = [&](const char* flag, auto& value, uint64_t lo, uint64_t hi,
                           const std::string& help) {
      cmd->add_option(flag, value, help)->check(whole_number(lo, hi));
    };
    const auto number = [&](const char* flag, std::optional<float>& value,
                            const std::string& help) {
      cmd->add_option(flag, value, help)->check(finite_number());
    };
    count("--steps", steps, 1, kMaxSteps, "total training iterations");
    count("--batch", batch, 1, kMaxBatch, "batch size");
    count("--seed", seed, 0, UINT64_MAX, "seed of every random draw (init, data, noise, dropout)");
    cmd->add_option("--optimizer", optimizer, "adam, sgd (with momentum) or rmsprop, for G and D");
    number("--lr", lr, "learning rate of both G and D (of their optimizer)");
    number("--lr-g", lr_g, "learning rate of G");
    number("--lr-d", lr_d, "learning rate of D");
    number("--beta1", beta1, "Adam beta1 of both");
    number("--beta2", beta2, "Adam beta2 of both");
    number("--momentum", momentum, "SGD momentum of both");
    number("--lr-decay", lr_decay,
           "staircase decay (Adam and SGD): the rate is multiplied by this every --lr-decay-every "
           "updates");
    count("--lr-decay-every", lr_decay_every, 0, kMaxSteps,
          "training steps between decays (0: none)");
    count("--z-dim", z_dim, 1, kMaxLayerWidth, "noise size (G's input)");
    cmd->add_option("--noise", noise,
                    "noise distribution: normal, uniform (-1, 1), uniform01 or stratified01");
    cmd->add_option("--loss", loss,
                    "bce (D a classifier) or wasserstein (D a critic; use with --clip)");
    cmd->add_flag("--wgan", wgan,
                  "the WGAN paper's settings: --loss wasserstein, RMSprop 5e-5, --clip 0.01, "
                  "--d-steps 5 (each may be overridden)");
    number("--clip", clip, "clip every D weight into [-value, value] after each step");
    count("--d-steps", d_steps, 1, kMaxDSteps, "D steps per G step");
    cmd->add_option("--d-update", d_update,
                    "separate (a D update after the real and after the fake batch, as Keras' two "
                    "train_on_batch calls) or joint (one update on the summed gradient)");
    cmd->add_option("--g-loss", g_loss,
                    "nonsaturating (-log D(G(z))) or minimax (log(1 - D(G(z)))), with bce");
    number("--label-smoothing", label_smoothing, "one-sided: real targets become 1 - value");
    number("--instance-noise", instance_noise, "std of Gaussian noise added to every input D sees");
    count("--instance-noise-steps", instance_noise_steps, 0, kMaxSteps,
          "anneal the instance noise linearly to 0 over this many steps (0: constant)");
    cmd->add_flag("--minibatch-stddev", minibatch_stddev,
                  "add ProGAN's minibatch-stddev feature before D's last dense layer");
    count("--pack", pack, 1, kMaxPackRows,
          "PacGAN: D judges this many samples at once (a divisor of --batch; 1: off)");
    number("--ema", ema,
           "keep an average of G's weights with this decay, e.g. 0.999, for samples, evaluation "
           "and export");
    count("--ema-start", ema_start, 0, kMaxSteps,
          "step from which the --ema average runs (a copy of G's weights before)");
    cmd->add_option("--init", init, "glorot_uniform (Keras) or torch_default (PyTorch)");
    count("--log-every", log_every, 1, kMaxLogEvery,
          "steps between metrics rows / progress updates");
    count("--sample-every", sample_every, 1, INT32_MAX, "steps between sample pictures");
    count("--checkpoint-every", checkpoint_every, 1, INT32_MAX, "steps between checkpoints");
    count("--keep-checkpoints", keep, 1, kMaxKeepCheckpoints, "checkpoints kept (oldest deleted)");
  }
};

// --cuda-graph / --no-cuda-graph (both apps, new and resumed runs: the choice changes how a step
// is launched, never its result). Neither: on for a CUDA run.
struct GraphFlags {
  bool on = false, off = false;
  void add_to(CLI::App* cmd) {
    CLI::Option* yes = cmd->add_flag(
        "--cuda-graph", on,
        "CUDA: run each step as one graph launch (the default on a GPU; an error on the CPU)");
    CLI::Option* no = cmd->add_flag("--no-cuda-graph", off, "CUDA: every step as plain launches");
    yes->excludes(no);
  }
  std::optional<bool> choice() const {
    if (on) return true;
    if (off) return false;
    return std::nullopt;
  }
};

// A --resume request: the run's settings come from its config.json, so only --steps (and the
// device flags, which the caller sets) may be given beside it. `other_settings`: any setting of a
// new run was given (flags, preset, experiment).
inline RunRequest resume_request(const std::string& resume_dir, const std::string& out_dir,
                                 const Overrides& ov, bool other_settings) {
  if (!out_dir.empty()) throw std::invalid_argument("--resume and --out: give one of them");
  if (ov.any_model_setting() || other_settings)
    throw std::invalid_argument(
        "--resume: the run's settings come from its config.json; only --steps, --device and "
        "--cuda-graph/--no-cuda-graph may be given");
  RunRequest req;
  req.resume = true;
  req.run_dir = resume_dir;
  req.steps = ov.steps;
  return req;
}

// Runs `req` with SIGINT/SIGTERM stopping it cleanly (a checkpoint, then exit 128 + signal, said
// on stdout) and live progress on a terminal. Returns the exit status, and prints `done` (given
// the result) when the run finished. The last line names the run's report.html.
template <class Done>
int run_stoppable(RunRequest& req, Done done) {
  req.live_progress = isatty(fileno(stdout));
  req.stop = &g_stop_signal;
  install_signal_handlers();
  const RunResult r = run_training(req);
  int status = 0;
  if (r.stopped_by_signal && !r.abandoned.empty()) {
    std::printf("stopped by signal %d: %s; nothing saved since %s\n", r.stopped_by_signal,
                r.abandoned.c_str(),
                r.last_checkpoint.empty() ? "the start (no checkpoint yet)"
                                          : r.last_checkpoint.c_str());
    status = 128 + r.stopped_by_signal;
  } else if (r.stopped_by_signal) {
    std::printf("stopped by signal %d at step %llu; checkpoint: %s\n", r.stopped_by_signal,
                (unsigned long long)r.step, r.last_checkpoint.c_str());
    status = 128 + r.stopped_by_signal;
  } else {
    done(r);
  }
  if (!r.report.empty()) std::printf("report: %s\n", r.report.c_str());
  return status;
}

}  // namespace gan::app
