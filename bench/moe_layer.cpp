// One MoE layer, forward and backward, beside a dense FFN of equal active FLOPs, in one run.
// T = 4096 tokens of width D = 256, experts of width H = 1024, top-2 (GShard's gate with its
// random second choice switched off, random_second_choice = false, so every token runs two
// experts), capacity factor 1.25; the dense FFN has d_ff = 2·H = 2048. Loss = mean(y²) + 0.01 · aux loss.
// Each round times the MoE and the dense layer alternately; medians over rounds. One JSON line per
// expert count:
//   {"bench":"moe_layer","experts":E,"forward_s":…,"backward_s":…,"dense_forward_s":…,
//    "dense_backward_s":…,"moe_over_dense":…}    moe_over_dense = (fwd+bwd) MoE / (fwd+bwd) dense
// Goals (MoE layer v2 issue): backward <= 2.5 × forward at every E; moe_over_dense <= 1.25 at E = 8
// and <= 1.5 at E = 256.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "bench/timing.h"
#include "moe/gshard_router.h"
#include "moe/moe_layer.h"
#include "moegrad.h"

using namespace moegrad;
using bench::median;
using bench::seconds_since;

namespace {

struct Timing {
  std::vector<double> forward, backward;
};

// One fwd+bwd of `run` (which returns the loss), its two phases timed.
template <class Run>
void time_step(Run&& run, Timing& timing) {
  auto start = std::chrono::steady_clock::now();
  Tensor loss = run();
  timing.forward.push_back(seconds_since(start));
  start = std::chrono::steady_clock::now();
  loss.backward();
  timing.backward.push_back(seconds_since(start));
}

}  // namespace

int main() {
  const std::int64_t T = 4096, D = 256, H = 1024;
  const int rounds = std::getenv("MOEGRAD_BENCH_ROUNDS") ? std::atoi(std::getenv("MOEGRAD_BENCH_ROUNDS")) : 5;
  Generator generator(0);
  Tensor x = randn({T, D}, generator);
  nn::FeedForward dense(D, 2 * H, 0.0, generator);
  for (std::int64_t E : {8, 64, 256}) {
    moe::GShardRouterConfig router_config;
    router_config.dim = D;
    router_config.experts = E;
    router_config.random_second_choice = false;  // plain top-2
    moe::MoELayerConfig config;
    config.dim = D;
    config.expert_hidden = H;
    config.capacity_factor_train = 1.25;
    moe::MoELayer layer(config, std::make_shared<moe::GShardRouter>(router_config, generator), generator);
    Timing warm_up, moe_timing, dense_timing;
    for (int round = 0; round <= rounds; ++round) {  // round 0 warms up and is dropped
      layer.zero_grad();
      dense.zero_grad();
      Timing& m = round == 0 ? warm_up : moe_timing;  // warm-up timings are not reported
      Timing& d = round == 0 ? warm_up : dense_timing;
      time_step([&] {
        moe::MoEOutput out = layer.apply(x);
        return mean(square(out.output)) + out.routing.aux_loss * 0.01;
      }, m);
      time_step([&] { return mean(square(dense.forward(x))); }, d);
    }
    double f = median(moe_timing.forward), b = median(moe_timing.backward);
    double df = median(dense_timing.forward), db = median(dense_timing.backward);
    fmt::print("{{\"bench\":\"moe_layer\",\"experts\":{},\"forward_s\":{:.4f},\"backward_s\":{:.4f},"
               "\"dense_forward_s\":{:.4f},\"dense_backward_s\":{:.4f},\"moe_over_dense\":{:.3f}}}\n",
               E, f, b, df, db, (f + b) / (df + db));
    std::fflush(stdout);
  }
}
