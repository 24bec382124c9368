// The training flags shared by mnist_gan and toy_gan: each overrides one setting of the preset or
// experiment, and is applied only when given. Also the signal handling both apps use.
#pragma once
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>

#include "engine/train_config.h"
#include "engine/training_run.h"

namespace gan::app {

inline std::atomic<int> g_stop_signal{0};

inline void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int signo) { g_stop_signal.store(signo); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
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

struct Overrides {
  std::optional<int> batch, z_dim, d_steps, log_every, sample_every, checkpoint_every, keep, grid;
  std::optional<uint64_t> steps, seed, lr_decay_every, instance_noise_steps;
  std::optional<float> lr, lr_g, lr_d, beta1, beta2, label_smoothing, momentum, lr_decay, clip,
      instance_noise;
  std::optional<std::string> noise, g_loss, d_update, init, loss, optimizer;
  bool wgan = false, minibatch_stddev = false;

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
    if (z_dim) c.generator.input = *z_dim;
    if (d_steps) c.d_steps = *d_steps;
    if (log_every) c.log_every = *log_every;
    if (sample_every) c.sample_every = *sample_every;
    if (checkpoint_every) c.checkpoint_every = *checkpoint_every;
    if (keep) c.keep_checkpoints = *keep;
    if (grid) c.sample_grid = *grid;
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
  }

  // Settings a resumed run may not change (they come from its config.json).
  bool any_model_setting() const {
    return batch || z_dim || d_steps || lr || lr_g || lr_d || beta1 || beta2 || label_smoothing ||
           noise || g_loss || d_update || init || seed || grid || momentum || lr_decay ||
           lr_decay_every || clip || instance_noise || instance_noise_steps || loss || optimizer ||
           wgan || minibatch_stddev;
  }

  void add_to(CLI::App* cmd) {
    // Counts are unsigned: CLI11 would wrap "-1" to 2^64 - 1, so the text must be a number >= 0.
    cmd->add_option("--steps", steps, "total training iterations")->check(CLI::NonNegativeNumber);
    cmd->add_option("--batch", batch, "batch size");
    cmd->add_option("--seed", seed, "seed of every random draw (init, data, noise, dropout)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--optimizer", optimizer, "adam, sgd (with momentum) or rmsprop, for G and D");
    cmd->add_option("--lr", lr, "learning rate of both G and D (of their optimizer)");
    cmd->add_option("--lr-g", lr_g, "learning rate of G");
    cmd->add_option("--lr-d", lr_d, "learning rate of D");
    cmd->add_option("--beta1", beta1, "Adam beta1 of both");
    cmd->add_option("--beta2", beta2, "Adam beta2 of both");
    cmd->add_option("--momentum", momentum, "SGD momentum of both");
    cmd->add_option("--lr-decay", lr_decay,
                    "staircase decay (Adam and SGD): the rate is multiplied by this every "
                    "--lr-decay-every updates");
    cmd->add_option("--lr-decay-every", lr_decay_every, "training steps between decays (0: none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--z-dim", z_dim, "noise size (G's input)");
    cmd->add_option("--noise", noise,
                    "noise distribution: normal, uniform (-1, 1), uniform01 or stratified01");
    cmd->add_option("--loss", loss,
                    "bce (D a classifier) or wasserstein (D a critic; use with --clip)");
    cmd->add_flag("--wgan", wgan,
                  "the WGAN paper's settings: --loss wasserstein, RMSprop 5e-5, --clip 0.01, "
                  "--d-steps 5 (each may be overridden)");
    cmd->add_option("--clip", clip, "clip every D weight into [-value, value] after each step");
    cmd->add_option("--d-steps", d_steps, "D steps per G step");
    cmd->add_option("--d-update", d_update,
                    "separate (a D update after the real and after the fake batch, as Keras' two "
                    "train_on_batch calls) or joint (one update on the summed gradient)");
    cmd->add_option("--g-loss", g_loss,
                    "nonsaturating (-log D(G(z))) or minimax (log(1 - D(G(z)))), with bce");
    cmd->add_option("--label-smoothing", label_smoothing,
                    "one-sided: real targets become 1 - value");
    cmd->add_option("--instance-noise", instance_noise,
                    "std of Gaussian noise added to every input D sees");
    cmd->add_option("--instance-noise-steps", instance_noise_steps,
                    "anneal the instance noise linearly to 0 over this many steps (0: constant)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--minibatch-stddev", minibatch_stddev,
                  "add ProGAN's minibatch-stddev feature before D's last dense layer");
    cmd->add_option("--init", init, "glorot_uniform (Keras) or torch_default (PyTorch)");
    cmd->add_option("--log-every", log_every, "steps between metrics rows / progress updates");
    cmd->add_option("--sample-every", sample_every, "steps between sample pictures");
    cmd->add_option("--checkpoint-every", checkpoint_every, "steps between checkpoints");
    cmd->add_option("--keep-checkpoints", keep, "checkpoints kept (oldest deleted)");
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
        "--resume: the run's settings come from its config.json; only --steps and --device "
        "may be given");
  RunRequest req;
  req.resume = true;
  req.run_dir = resume_dir;
  req.steps = ov.steps;
  return req;
}

// Runs `req` with SIGINT/SIGTERM stopping it cleanly (a checkpoint, then exit 128 + signal, said
// on stdout) and live progress on a terminal. Returns the exit status, and prints `done` (given
// the result) when the run finished.
template <class Done>
int run_stoppable(RunRequest& req, Done done) {
  req.live_progress = isatty(fileno(stdout));
  req.stop = &g_stop_signal;
  install_signal_handlers();
  const RunResult r = run_training(req);
  if (r.stopped_by_signal) {
    std::printf("stopped by signal %d at step %llu; checkpoint: %s\n", r.stopped_by_signal,
                (unsigned long long)r.step, r.last_checkpoint.c_str());
    return 128 + r.stopped_by_signal;
  }
  done(r);
  return 0;
}

}  // namespace gan::app
