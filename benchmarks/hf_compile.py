"""`torch.compile` on the hf decode step against eager: compile time and ms per step.

The decode loop's own forward (growing KV cache, batch 1 and 8, 32-token prompt, greedy),
timed eager and under `torch.compile(model.forward, dynamic=True)` (inductor) with the
linears on torch's BLAS (the oneDNN-packed ones do not lower in inductor), and eager on
the packed linears as generation runs today. Prints the first compiled call (compile
time), the steady step of each, and compiled / eager. llmkit keeps eager: on 2 cores
(AVX512-BF16) the compiled step was 2.0-2.1x slower than eager's best kernel at each
batch size, after a 175 s compile (with dynamo's recompile limit raised to 64 so that
every call is compiled; at its default of 8: 1.7-1.8x slower after 50 s, part eager).

    python benchmarks/hf_compile.py [--threads 2] [--steps 40] [--freezing] [--quick]
"""

from __future__ import annotations

import time

from hf_common import decode_steps as steps
from hf_common import decoding_model, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--freezing", action="store_true", help="inductor's freezing (constant weights, its own prepack)")
    args = p.parse_args()
    if args.quick:
        args.steps = 4
    if args.steps < 2:
        p.error("--steps must be at least 2")

    import torch

    client, model, key, last = decoding_model(args)
    eager: dict[tuple[int, bool], tuple] = {}
    for rows in (1, 8):
        for packed in (True, False):
            steps(model, key, last, rows, 3, packed)  # warm-up
            eager[rows, packed] = steps(model, key, last, rows, args.steps, packed)
    if args.freezing:
        import torch._inductor.config as inductor

        inductor.freezing = True
    # The growing cache adds a layer per call on the prompt, so dynamo recompiles per layer;
    # past its default limit of 8 it would fall back to eager and the figure would be a blend.
    torch._dynamo.config.recompile_limit = 64
    plain = model.forward
    model.forward = torch.compile(plain, dynamic=True)
    print(
        f"{client.model}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()}, {args.steps} decode steps after a 32-token prompt"
    )
    for rows in (1, 8):
        start = time.perf_counter()
        first, _, _ = steps(model, key, last, rows, 2, False)  # compiles (prompt and step shapes)
        compiling = time.perf_counter() - start
        _, compiled, tokens = steps(model, key, last, rows, args.steps, False)
        packed, blas = eager[rows, True][1], eager[rows, False][1]
        same = tokens == eager[rows, False][2]
        print(f"  batch {rows}: compile {compiling:.1f}s; ms per step: eager packed {packed * 1000:.1f}, eager BLAS "
              f"{blas * 1000:.1f}, compiled {compiled * 1000:.1f}; compiled / eager BLAS {blas / compiled:.2f}x, "
              f"/ eager packed {packed / compiled:.2f}x (speed-up; > 1 is faster); tokens equal: {same}")  # fmt: skip
    model.forward = plain


if __name__ == "__main__":
    main()
