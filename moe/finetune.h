// ST-MoE's fine-tuning recipes (Zoph et al. 2022, §4.3-4.5), as one-line calls on a model:
// - freeze_moe_parameters: update only the non-MoE weights. ST-MoE found this fine-tunes about as
//   well as updating everything (and saves the experts' optimizer state), while freezing everything
//   else and training only the MoE (freeze_non_moe_parameters, the contrast) does worse.
// - set_expert_dropout: a higher dropout inside the experts than elsewhere (Switch §4: 0.4 in the
//   experts, 0.1 elsewhere) regularises the many expert weights on a small fine-tuning set.
// The optimiser skips frozen parameters (they have no gradient), so the same optimiser works.
#pragma once
#include "moe/moe_layer.h"

namespace moegrad::moe {

// Sets requires_grad = false on every parameter of every MoE layer (routers, experts, shared
// experts); returns how many tensors it froze.
std::size_t freeze_moe_parameters(nn::Module& model);

// The opposite: freezes everything outside the MoE layers; returns how many tensors it froze.
std::size_t freeze_non_moe_parameters(nn::Module& model);

// Sets the expert dropout rate of every MoE layer in `model`; returns how many layers it set.
std::size_t set_expert_dropout(nn::Module& model, double rate);

}  // namespace moegrad::moe
