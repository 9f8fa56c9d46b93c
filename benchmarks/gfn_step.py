#!/usr/bin/python3
"""PyTorch peer of gfn_step.cpp (issue 8, workload 3): one GFlowNet train step on the same GPT-2
(pre-LN, tied head, tanh GELU) with LoRA (A ~ U(+-1/sqrt(in)), B = 0, scale alpha / r) on the four
projections of every block, the same sizes and the same work:

  1. rollout: KV-cache decoding under no_grad, T = 1, STOP masked so that every trajectory takes
     exactly max_len tokens (gfn_step.cpp does the same; pure on-policy, no replay buffer);
  2. prefix rewards from the frozen base (adapters off, no_grad), ONE teacher-forced pass:
     log R(s_t STOP) = sum_{k<t} log p(z_k | X z_<k) + log p(STOP | X z_<t) (SPEC section 3);
  3. policy forward with adapters on (teacher forcing): log q(z_t+1 | s_t), log q(STOP | s_t);
  4. modified SubTB (SPEC section 2, lambda 1), one normaliser per query, mean over queries;
  5. backward, gradient clipping at 1, torch.optim.AdamW on the LoRA parameters only.

Prints torch's build configuration (BLAS backend) on stderr and one JSON line on stdout.
Run with Debian's torch: /usr/bin/python3 benchmarks/gfn_step.py --config toy --threads 2
--check-loss FILE: recompute the loss of a batch written by gfn_step --dump-batch and compare.

--device cuda: the same step on the GPU, peer of gfn_step_cuda (issue 7); the weights are drawn on
the host as on --device cpu, then moved. Every phase mark waits for the GPU (torch.cuda.synchronize)
and the JSON line adds the GPU's name and torch's peak allocated GPU memory. --precision picks the
arithmetic there: fp32 (TF32 off), tf32 (TF32 matmuls) or bf16 (autocast of the model's forwards;
log-softmax and the loss in float32).
  python3 benchmarks/gfn_step.py --device cuda --config gpt2 --queries 32 --trajectories 16 \
    --max-len 32 --lora-rank 64 --precision bf16
"""
import argparse
import contextlib
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from peer import peak_rss_mb, report_blas


class LoraLinear(nn.Linear):
    """y = x W^T + b + (alpha / r) (x A^T) B^T; the adapter term is skipped when disabled."""

    def __init__(self, fan_in, fan_out):
        super().__init__(fan_in, fan_out)
        self.lora_a = None
        self.lora_b = None
        self.scale = 0.0
        self.enabled = True

    def add_lora(self, rank, alpha):
        bound = 1.0 / math.sqrt(self.in_features)
        dev = self.weight.device  # drawn on the host whatever the device: the same values
        self.lora_a = nn.Parameter(
            torch.empty(rank, self.in_features).uniform_(-bound, bound).to(dev))
        self.lora_b = nn.Parameter(torch.zeros(self.out_features, rank, device=dev))
        self.scale = alpha / rank

    def forward(self, x):
        y = super().forward(x)
        if self.lora_a is not None and self.enabled:
            y = y + (x @ self.lora_a.T) @ (self.scale * self.lora_b).T
        return y


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = LoraLinear(C, 3 * C)
        self.c_proj = LoraLinear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = LoraLinear(C, 4 * C)
        self.mlp_proj = LoraLinear(4 * C, C)

    def forward(self, x, cache=None, pos=0):
        """x [B, T, C]. cache: None (full causal pass) or (k, v) [B, NH, maxT, hs] tensors that
        hold positions < pos; the new keys / values are written at pos .. pos + T - 1."""
        B, T, C = x.shape
        hs = C // self.NH
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.NH, hs).transpose(1, 2) for t in (q, k, v))
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(
                F, "scaled_dot_product_attention") else causal_attention(q, k, v)
        else:
            kc, vc = cache
            kc[:, :, pos:pos + T] = k
            vc[:, :, pos:pos + T] = v
            k, v = kc[:, :, :pos + T], vc[:, :, :pos + T]
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            if T > 1:  # prefill: causal within the new block
                mask = torch.ones(T, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=pos)
                att = att.masked_fill(~mask, float("-inf"))
            y = att.softmax(dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


def causal_attention(q, k, v):
    T = q.shape[2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    return att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


class GPT(nn.Module):
    def __init__(self, V, maxT, L, NH, C):
        super().__init__()
        self.NH, self.C, self.maxT = NH, C, maxT
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(maxT, C)
        self.h = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def lora_layers(self):
        return [m for m in self.modules() if isinstance(m, LoraLinear)]

    def enable_lora(self, rank, alpha):
        for p in self.parameters():
            p.requires_grad_(False)
        for m in self.lora_layers():
            m.add_lora(rank, alpha)
        return [p for m in self.lora_layers() for p in (m.lora_a, m.lora_b)]

    def set_adapters(self, enabled):
        for m in self.lora_layers():
            m.enabled = enabled

    def forward(self, idx, caches=None, pos=0):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos, pos + T, device=idx.device))
        for l, block in enumerate(self.h):
            x = block(x, None if caches is None else caches[l], pos)
        return self.ln_f(x) @ self.wte.weight.T  # tied head

    def new_caches(self, B, T):
        hs = self.C // self.NH
        dev = self.wte.weight.device
        return [(torch.empty(B, self.NH, T, hs, device=dev), torch.empty(B, self.NH, T, hs,
                                                                           device=dev))
                for _ in self.h]


@torch.no_grad()
def rollout(model, prompts, max_len, stop, amp):
    """prompts [B, P] -> actions [B, max_len], sampled at T = 1 with STOP masked."""
    B, P = prompts.shape
    model.set_adapters(True)
    caches = model.new_caches(B, P + max_len)
    with amp():
        logits = model(prompts, caches, 0)[:, -1].float()
    actions = torch.empty(B, max_len, dtype=torch.long, device=prompts.device)
    for t in range(max_len):
        logits[:, stop] = float("-inf")
        actions[:, t] = torch.multinomial(logits.softmax(dim=-1), 1).squeeze(1)
        if t + 1 < max_len:  # the last token is never decoded (its state is scored later)
            with amp():
                logits = model(actions[:, t:t + 1], caches, P + t)[:, -1].float()
    return actions


def state_log_probs(logits, P, actions, stop):
    """log q(z_t+1 | s_t) [B, L] and log q(STOP | s_t) [B, L + 1] from full-sequence logits; the
    state s_t is read at position P - 1 + t."""
    logp = logits[:, P - 1:].log_softmax(dim=-1)
    log_pf = logp[:, :-1].gather(2, actions.unsqueeze(2)).squeeze(2)
    return log_pf, logp[..., stop]


def modified_subtb(log_pf, log_stop, log_r, length, stopped, queries, lam=1.0, floor=-1e4):
    """Modified SubTB (SPEC section 2), vectorised. log_pf [B, L], log_stop / log_r [B, L + 1];
    length [B]; stopped [B] bool. C_t = log R_t - log q(STOP|s_t) - sum_{k<t} log q(z_k+1|s_k);
    the residual of sub-trajectory i -> j is C_i - C_j. One normaliser per query, mean over
    queries (the rows of query k are rows k*n .. k*n+n-1)."""
    B, L = log_pf.shape
    t = torch.arange(L + 1, device=log_pf.device)
    in_row = t.unsqueeze(0) <= length.unsqueeze(1)  # states s_0 .. s_e
    at_end = (t.unsqueeze(0) == length.unsqueeze(1)) & ~stopped.unsqueeze(1)
    log_stop = torch.where(at_end, torch.zeros_like(log_stop), log_stop)  # max length: q(STOP) = 1
    valid = in_row & torch.isfinite(log_stop)
    prefix = F.pad(log_pf.cumsum(dim=1), (1, 0))  # P_t = sum_{k<t} log_pf_k
    c = log_r.clamp_min(floor) - torch.where(valid, log_stop, torch.zeros_like(log_stop)) - prefix
    c = torch.where(valid, c, torch.zeros_like(c))
    span = t.unsqueeze(0) - t.unsqueeze(1)  # j - i
    w = torch.where(span > 0, lam ** (span - 1).clamp_min(0).to(c.dtype),
                    torch.zeros((), dtype=c.dtype, device=c.device))
    pair = valid.unsqueeze(2) & valid.unsqueeze(1)  # [B, i, j]
    wp = w * pair
    r = c.unsqueeze(2) - c.unsqueeze(1)
    per_q_sum = (wp * r * r).sum(dim=(1, 2)).view(queries, -1).sum(dim=1)
    per_q_weight = wp.sum(dim=(1, 2)).view(queries, -1).sum(dim=1)
    return (per_q_sum / per_q_weight).mean()


def check_loss(path):
    d = json.load(open(path))
    f = lambda k: torch.tensor(d[k], dtype=torch.float64)
    loss = modified_subtb(f("log_pf"), f("log_stop"), f("log_r"), torch.tensor(d["length"]),
                          torch.tensor(d["stopped"], dtype=torch.bool), 1,
                          floor=d["log_reward_floor"])
    rel = abs(loss.item() - d["loss"]) / max(abs(d["loss"]), 1e-30)
    print(json.dumps({"check": "modified_subtb", "gfnlm": d["loss"], "pytorch": loss.item(),
                      "rel_diff": rel, "rows": len(d["length"])}))
    return 0 if rel < 1e-9 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=["toy", "gpt2"], default="toy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--trajectories", type=int, default=None)
    ap.add_argument("--max-len", type=int, default=24)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32",
                    help="GPU arithmetic (--device cuda only)")
    ap.add_argument("--check-loss", default=None, help="batch JSON from gfn_step --dump-batch")
    args = ap.parse_args()
    if args.check_loss:
        sys.exit(check_loss(args.check_loss))
    cuda = args.device == "cuda"
    if args.precision != "fp32" and not cuda:
        ap.error("--precision tf32 / bf16 needs --device cuda")
    torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
        blas = "cuBLAS"
    else:
        blas = report_blas()
    dev = torch.device(args.device)
    bf16 = args.precision == "bf16"

    def amp():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16) if cuda else \
            contextlib.nullcontext()

    if args.config == "toy":
        V, maxT, L, NH, C, Q, N = 64, 64, 4, 4, 128, 8, 16
    else:
        V, maxT, L, NH, C, Q, N = 50257, 1024, 12, 12, 768, 2, 8
    Q = args.queries or Q
    N = args.trajectories or N
    max_len, prompt_len, rank, alpha, stop = args.max_len, 8, args.lora_rank, 16.0, 13
    torch.manual_seed(1)
    model = GPT(V, maxT, L, NH, C).to(dev)
    lora = model.enable_lora(rank, alpha)
    opt = torch.optim.AdamW(lora, lr=5e-4, weight_decay=0.0)
    prompts = torch.randint(0, V, (Q, prompt_len)).repeat_interleave(N, dim=0).to(dev)  # [Q*N, P]
    B = Q * N
    length = torch.full((B,), max_len, device=dev)
    stopped = torch.zeros(B, dtype=torch.bool, device=dev)  # STOP masked: every row is max_len

    phases = {}
    clock = [0.0]

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def mark(name):
        sync()
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + (now - clock[0]) * 1000
        clock[0] = now

    times, cpu, step_phases = [], [], []
    for i in range(args.warmup + args.iters):
        phases.clear()
        sync()
        t0 = clock[0] = time.perf_counter()
        c0 = time.process_time()
        actions = rollout(model, prompts, max_len, stop, amp)
        mark("rollout")
        seqs = torch.cat([prompts, actions], dim=1)
        with torch.no_grad():
            model.set_adapters(False)
            with amp():
                base_logits = model(seqs)
            base_pf, base_stop = state_log_probs(base_logits.float(), prompt_len, actions, stop)
            del base_logits
            log_r = F.pad(base_pf.cumsum(dim=1), (1, 0)) + base_stop
            model.set_adapters(True)
        mark("reward")
        opt.zero_grad(set_to_none=False)
        with amp():
            logits = model(seqs)
        logits = logits.float()
        mark("policy_forward")
        log_pf, log_stop = state_log_probs(logits, prompt_len, actions, stop)
        loss = modified_subtb(log_pf, log_stop, log_r, length, stopped, Q)
        mark("loss")
        loss.backward()
        mark("backward")
        torch.nn.utils.clip_grad_norm_(lora, 1.0)
        opt.step()
        mark("optimizer")
        dt = (time.perf_counter() - t0) * 1000
        if i >= args.warmup:
            times.append(dt)
            cpu.append((time.process_time() - c0) * 1000)
            step_phases.append(dict(phases))
    s = sorted(times)
    median = s[len(s) // 2]
    mean_phases = {k: sum(p[k] for p in step_phases) / len(step_phases) for k in step_phases[0]}
    extra = {}
    if cuda:
        extra = {"device": "cuda", "gpu": torch.cuda.get_device_name(), "precision": args.precision,
                 "peak_gpu_allocated_mb": torch.cuda.max_memory_allocated() / 2**20}
    print(json.dumps({
        "impl": "pytorch", "workload": "gfn_step", "config": args.config,
        "threads": args.threads,
        "params": sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in lora),
        "lora_params": sum(p.numel() for p in lora), "queries": Q, "trajectories_per_query": N,
        "max_len": max_len, "prompt_len": prompt_len, "median_ms": median, "min_ms": s[0],
        "times_ms": times, "cpu_ms": cpu, "median_cpu_ms": sorted(cpu)[len(cpu) // 2],
        "phases_mean_ms": mean_phases,
        "rollout_tokens_per_s": B * max_len / (median / 1000),
        "trajectories_per_s": B / (median / 1000), "final_loss": loss.item(),
        "peak_rss_mb": peak_rss_mb(),
        "blas": blas, "torch": torch.__version__, **extra}))


if __name__ == "__main__":
    main()
