// The auxiliary losses of the MoE papers, as plain functions of what a router produced.
// Letters: T tokens, E experts. Every function takes an optional (T) token mask (1 real token,
// 0 padding; undefined = all real): padding tokens add nothing to any sum and do not count in any
// mean. Each returns a 0-d tensor in the dtype of its floating input.
#pragma once
#include <cstdint>

#include "tensor/ops.h"

namespace moegrad::moe {

// CV(v)² = Var(v) / (mean(v)² + 1e-10), the POPULATION variance (Shazeer et al.'s reference code).
// Written as a ratio, not as (std/mean)², because std has an infinite derivative at zero
// variance: this form has a finite gradient (zero) at perfect balance.
Tensor cv_squared(const Tensor& v);

// Shazeer et al. 2017, eq. (6)-(7): Importance(X) = Σ_x G(x) (E),  L = w_importance · CV(Importance)².
// gates (T,E): every token's gate values, zero for experts it does not use. w = 0.1 (appendix C.1).
Tensor importance_loss(const Tensor& gates, const Tensor& token_mask = Tensor(), double weight = 0.1);

// Shazeer et al. 2017, eq. (8)-(9): the probability that expert i is among a token's top k when only
// i's noise is drawn again, the other noisy values held fixed:
//   P(x,i) = Φ( (clean_i − kth_excluding(noisy, k, i)) / noise_std_i )
// kth_excluding is the k-th largest noisy value with i left out: the (k+1)-th largest of all when i
// is itself in the top k, the k-th largest otherwise. clean, noisy, noise_std (T,E) -> P (T,E).
// Needs k < E (with k = E every expert is always chosen and P is 1).
Tensor load_estimate(const Tensor& clean_logits, const Tensor& noisy_logits, const Tensor& noise_std, std::int64_t k);

// Shazeer et al. 2017, eq. (10)-(11): Load(X)_i = Σ_x P(x,i),  L = w_load · CV(Load)².  w = 0.1.
Tensor load_loss(const Tensor& clean_logits, const Tensor& noisy_logits, const Tensor& noise_std, std::int64_t k,
                 const Tensor& token_mask = Tensor(), double weight = 0.1);

// Switch Transformer (Fedus et al. 2022), eq. (4)-(6): loss = α · N · Σ_i f_i · P_i with
// f_i = fraction of tokens whose argmax expert is i (counted, no gradient) and P_i = mean router
// probability of expert i. probabilities (T,E). Equals α exactly under uniform routing.
// α = 1e-2 (the paper's value, also ST-MoE's c_B).
Tensor switch_balance_loss(const Tensor& probabilities, const Tensor& token_mask = Tensor(), double alpha = 1e-2);

// GShard (Lepikhin et al. 2020), Algorithm 1: ℓ_aux = (1/E) Σ_e (c_e/S) · m_e, c_e the number of
// first choices (argmax) of expert e, S the tokens, m_e the mean gate. This is the paper's form
// and scale, unweighted: 1/E² under uniform routing. The reference code trains with 1e-2 · E² · ℓ_aux
// (which is the Switch loss with α = 1e-2): GShardRouter uses that weight.
Tensor gshard_aux_loss(const Tensor& probabilities, const Tensor& token_mask = Tensor());

// ST-MoE (Zoph et al. 2022), eq. (5): L_z = (1/B) Σ_tokens (log Σ_j exp(x_j))², x the router
// logits (T,E), B the number of (real) tokens. Unweighted; ST-MoE's weight c_z is 1e-3.
Tensor router_z_loss(const Tensor& logits, const Tensor& token_mask = Tensor());

}  // namespace moegrad::moe
